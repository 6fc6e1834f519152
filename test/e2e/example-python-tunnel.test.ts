import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Running } from "../helpers/long-running.ts";
import { startEchoBehindTunnel, startUntil } from "../helpers/long-running.ts";
import { FLOCK_BIN } from "../helpers/run-flock.ts";
import type { FlockSystem } from "../helpers/system.ts";
import { identityEnv, startSystem } from "../helpers/system.ts";

const run = promisify(execFile);
const EXAMPLE = new URL("../../examples/python-tunnel/", import.meta.url).pathname;
const CONNECTIONS = 8;
const BYTES_PER_CONNECTION = 300_000;

/** The environment of a function: its identity, and nothing of the test's own FLOCK_* settings. */
function functionEnv(identity: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLOCK_")));
  return { ...base, ...identity, NO_COLOR: "1" };
}

describe("examples/python-tunnel", { timeout: 120_000 }, () => {
  let system: FlockSystem;
  const running: Running[] = [];
  let listenPort: string;

  beforeAll(async () => {
    system = await startSystem();
    await system.createUser("acme");
    const alice = identityEnv(await system.party("acme", "alice", "bob"));
    const bob = identityEnv(await system.party("acme", "bob", "alice"));
    running.push(...(await startEchoBehindTunnel(FLOCK_BIN, bob)));
    const listen = await startUntil(
      process.execPath,
      [FLOCK_BIN, "tunnel", "--listen", "127.0.0.1:0"],
      functionEnv(alice),
      /^listening on 127\.0\.0\.1:(\d+)\n/,
    );
    running.push(listen);
    listenPort = listen.match[1] as string;
  }, 120_000);

  afterAll(async () => {
    for (const process of running.reverse()) await process.stop();
    await system?.stop();
  });

  it("two Python programs exchange bytes through two tunnels, concurrent connections, byte-exact", async () => {
    const { stdout } = await run("python3", [
      `${EXAMPLE}function.py`,
      "--port",
      listenPort,
      "--connections",
      String(CONNECTIONS),
      "--bytes",
      String(BYTES_PER_CONNECTION),
    ]);
    expect(JSON.parse(stdout)).toEqual({
      connections: CONNECTIONS,
      bytes: CONNECTIONS * BYTES_PER_CONNECTION + (CONNECTIONS * (CONNECTIONS - 1)) / 2,
      byteExact: true,
    });
  });
});
