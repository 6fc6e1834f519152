import { execFile } from "node:child_process";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { readPartyConfig } from "../../cli/commands/env.ts";
import { exportFrelayLayout } from "../../cli/commands/export.ts";
import { relayAddress } from "../../cli/relay-address.ts";
import { DEFAULT_CHANNEL } from "../../protocol/names.ts";
import { highestRandomWeight } from "../../protocol/rendezvous.ts";
import { pairId } from "../../protocol/ticket.ts";
import { closeAllFrelaySessions, frelaySession, MODE_CLIENT, MODE_SERVER } from "../helpers/frelay-client.ts";
import type { FlockSystem } from "../helpers/system.ts";
import { startSystem } from "../helpers/system.ts";

/**
 * docs/coming-from-frelay.md "The original README, step by step": Flock's commands for the
 * original README's steps, then the README's own `export` lines, word for word, and a
 * client of the original protocol run from what they exported.
 */
let system: FlockSystem;

beforeAll(async () => {
  system = await startSystem();
  // fr-adm create user --name user1; fr-adm create party --name 0|1 --user user1
  await system.createUser("user1");
  await system.party("user1", "0");
  await system.party("user1", "1");
});
afterEach(() => closeAllFrelaySessions());
afterAll(async () => {
  await system?.stop();
});

/** The original README's "Run Party N" exports, as written, in a shell in the directory holding certs/. */
async function originalExports(party: string, dest: string, relay: string): Promise<Record<string, string>> {
  const script = `
export RELAY=${relay}
export RELAY_CA=$(cat certs/flockrelay-ca.pem)
export RELAY_CERT=$(cat certs/${party}/cert.pem)
export RELAY_KEY=$(cat certs/${party}/key.pem)
export USER_CA=$(cat certs/user1/user-ca.pem)
export PARTY_CERT=$(cat certs/user1/${party}/cert.pem)
export PARTY_KEY=$(cat certs/user1/${party}/key.pem)
export DEST=${dest}
node -e 'process.stdout.write(JSON.stringify(process.env))'
`;
  const { stdout } = await promisify(execFile)("bash", ["-c", script], { cwd: dirname(system.certsDir) });
  return JSON.parse(stdout) as Record<string, string>;
}

it("runs the original README's steps with Flock's commands", async () => {
  // flock export --layout frelay --user user1
  const exported = await exportFrelayLayout({ user: "user1", certsDir: system.certsDir });
  expect(exported.lacksName).toEqual([]);
  // flock env --user user1 --party 0 --dest 1 --relay relay-1, and --relay alone: the worker's pick
  const party0 = await readPartyConfig({
    user: "user1",
    party: "0",
    dest: "1",
    url: system.url,
    certsDir: system.certsDir,
  });
  const named = await relayAddress("relay-1", party0, async () => system.admin);
  expect(named).toBe(`127.0.0.1:${system.dataPlanes[0]?.port}`);
  expect(await relayAddress(true, party0, async () => system.admin)).toBe(named);

  // ./relay/bin/client_func for party 0 and party 1, from the exported variables (TAG unset).
  const run = async (party: string, dest: string) => {
    const env = await originalExports(party, dest, named);
    const [, port] = (env.RELAY as string).split(":");
    return frelaySession({
      port: Number(port),
      relayCa: env.RELAY_CA as string,
      relayCert: env.RELAY_CERT as string,
      relayKey: env.RELAY_KEY as string,
      userCa: env.USER_CA as string,
      partyCert: env.PARTY_CERT as string,
      partyKey: env.PARTY_KEY as string,
      dest: env.DEST as string,
      tag: "",
    });
  };
  const first = run("0", "1");
  await expect.poll(() => system.dataPlanes[0]?.waitingSides()).toBe(1);
  const second = await run("1", "0");
  const { session, channel } = await first;
  expect([session.mode, second.session.mode]).toEqual([MODE_CLIENT, MODE_SERVER]);
  const echoed = new Promise<string>((resolve) => {
    let text = "";
    channel.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    channel.once("end", () => resolve(text));
  });
  second.channel.pipe(second.channel);
  channel.end("signing round 1");
  expect(await echoed).toBe("signing round 1");
});

it("flock env --relay alone gives both sides of a pair the same live relay, without asking for a ticket", async () => {
  const config = (party: string, dest: string) =>
    readPartyConfig({ user: "user1", party, dest, url: system.url, certsDir: system.certsDir });
  const pair = await pairId("user1", "0", "1", DEFAULT_CHANNEL);
  // A second live relay, and relays that never report until one of them would win the pair
  // if it were counted.
  await system.reportLoad(await system.registerRelay("relay-2"));
  for (let i = 0; i < 20 && (await highestRandomWeight(pair, await system.admin.listRelays())).live; i++) {
    await system.registerRelay(`silent-${i}`);
  }
  const relays = await system.admin.listRelays();
  expect((await highestRandomWeight(pair, relays)).live).toBe(false);
  const winner = await highestRandomWeight(
    pair,
    relays.filter((relay) => relay.live),
  );

  const picked = await relayAddress(true, await config("0", "1"), async () => system.admin);
  expect(picked).toBe(`127.0.0.1:${winner.port}`);
  expect(await relayAddress(true, await config("1", "0"), async () => system.admin)).toBe(picked);
  expect(await system.admin.listTickets("user1", undefined)).toEqual([]);
});
