import "reflect-metadata";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { partyPaths, relayCaPath, userPaths } from "../../cli/certs/layout.ts";
import type { PartyCommandFlags } from "../../cli/commands/connect.ts";
import { connectOptionsOf, withChannelOptions } from "../../cli/commands/connect.ts";
import { readPartyConfig } from "../../cli/commands/env.ts";
import { tunnelOptions } from "../../cli/commands/tunnel.ts";
import { BUNDLE_ENV, encodeIdentityBundle } from "../../client/identity.ts";
import { PEER_SETUP_SILENCE_MS } from "../../client/setup-silence.ts";
import { makeCertsDir } from "../helpers/certs-dir.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "flock-connect-"));
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(dir, { recursive: true, force: true });
});

/** No worker is asked: the URL is only checked to be one. */
const URL = "http://127.0.0.1:9";

/** The party commands' flags as commander parses `args`. */
function parsed(args: string[]): PartyCommandFlags {
  const command = withChannelOptions(new Command("connect"))
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  command.parse(args, { from: "user" });
  return command.opts<PartyCommandFlags>();
}

describe("flock connect, ping and tunnel: --setup-silence", () => {
  it("is the connect option setupSilenceMs, PEER_SETUP_SILENCE_MS unless given", async () => {
    const identity = await readPartyConfig({
      user: "u",
      party: "new",
      url: URL,
      certsDir: await makeCertsDir(dir),
    });
    expect(connectOptionsOf(parsed(["--setup-silence", "1500"]), identity).setupSilenceMs).toBe(1500);
    expect(connectOptionsOf(parsed([]), identity).setupSilenceMs).toBe(PEER_SETUP_SILENCE_MS);
  });

  it("refuses a value that is not a whole number of ms from 1", () => {
    for (const value of ["0", "-5", "1.5", "soon"]) {
      expect(() => parsed(["--setup-silence", value])).toThrow(/expected a whole number from 1/);
    }
  });

  it("is said in --help", () => {
    expect(withChannelOptions(new Command("connect")).helpInformation()).toMatch(
      /--setup-silence <ms> +drop and retry an attempt \(PEER_SILENT\)/,
    );
  });

  it("is in the tunnel's options, from which its control channel and every stream open", async () => {
    const root = await makeCertsDir(dir);
    const paths = partyPaths(root, "u", "new");
    const pem = (path: string) => readFile(path, "utf8");
    vi.stubEnv(
      BUNDLE_ENV,
      encodeIdentityBundle({
        url: URL,
        relayCa: await pem(relayCaPath(root)),
        relayCert: await pem(paths.relayCert),
        relayKey: await pem(paths.relayKey),
        userCa: await pem(userPaths(root, "u").caCert),
        partyCert: await pem(paths.partyCert),
        partyKey: await pem(paths.partyKey),
        dest: "old",
      }),
    );
    const flags = { ...parsed(["--setup-silence", "2500"]), forward: { host: "127.0.0.1", port: 7000 } };
    expect((await tunnelOptions(flags)).setupSilenceMs).toBe(2500);
  });
});
