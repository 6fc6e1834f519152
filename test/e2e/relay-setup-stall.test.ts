import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { Channel, ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import type { Attack, AttackerProxy } from "../helpers/attacker-proxy.ts";
import { startAttackerProxy } from "../helpers/attacker-proxy.ts";
import { digestToEnd, sha256 } from "../helpers/stream-digest.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * Ticket mode, with an attacker on the address the worker sends parties to: a relay that
 * pairs and then forwards nothing costs each side one attempt of the setup's silence bound
 * (PEER_SILENT), not the connect deadline, and the next ticket moves the pair to another data
 * plane. A path that is slow but live is never dropped, however long its setup takes.
 */
const PAYLOAD_BYTES = 256 * 1024;

const fx = useSystemWithPair({ dataPlane: false });
const proxies: AttackerProxy[] = [];
const started: DataPlane[] = [];
// Drained, a test's data planes get no more pairs: the next test's pair lands on its own.
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(started.splice(0).map((d) => d.drain(1_000)));
});
let relays = 0;

/** A data plane the worker names in tickets, reached through an attacker that attacks its first connections. */
async function attackedDataPlane(attacks: Attack[]): Promise<{ dataPlane: DataPlane; proxy: AttackerProxy }> {
  const relay = await fx.system.registerRelay(`stall-${++relays}`);
  const dataPlane = await fx.system.runDataPlane(relay, undefined, 0);
  started.push(dataPlane);
  const proxy = await startAttackerProxy(dataPlane, { attacks }, relay.port);
  proxies.push(proxy);
  return { dataPlane, proxy };
}

function open(
  identity: IdentityMaterials,
  channel: string,
  setupSilenceMs: number,
  onEvent: (event: ConnectEvent) => void,
) {
  return openChannel({ identity, channel, deadlineMs: 30_000, setupSilenceMs, onEvent });
}

/** Both directions at once, each checked by its digest. */
async function exchange(a: Channel, b: Channel): Promise<void> {
  fx.sockets.push(a.socket, b.socket);
  const [toB, toA] = [randomBytes(PAYLOAD_BYTES), randomBytes(PAYLOAD_BYTES / 2)];
  const [atB, atA] = [digestToEnd(b.socket), digestToEnd(a.socket)];
  a.socket.end(toB);
  b.socket.end(toA);
  expect(await Promise.all([atB, atA])).toEqual([sha256(toB), sha256(toA)]);
}

const silent = (events: ConnectEvent[]) =>
  events.filter((e) => e.type === "retry" && e.error.code === "PEER_SILENT");

describe("a relay that pairs, then forwards nothing", () => {
  it("costs the pair an attempt of the setup's silence bound, and the next tickets move it to another data plane", async () => {
    const stalling = await attackedDataPlane([{ kind: "drop", records: 0 }]);
    const aliceEvents: ConnectEvent[] = [];
    const bobEvents: ConnectEvent[] = [];
    const channel = "stalled-relay";
    // Alice waits on the stalling data plane before another one starts, so the pair is
    // assigned there; bob's ticket keeps that assignment.
    let onWaiting = () => {};
    const waiting = new Promise<void>((resolve) => {
      onWaiting = resolve;
    });
    const alice = open(fx.alice, channel, 2_000, (e) => {
      aliceEvents.push(e);
      if (e.type === "waiting") onWaiting();
    });
    await waiting;
    const honest = await fx.system.startDataPlane(`honest-${++relays}`);
    started.push(honest);
    const [a, b] = await Promise.all([alice, open(fx.bob, channel, 2_000, (e) => bobEvents.push(e))]);
    expect(stalling.proxy.attacked).toBe(1);
    await exchange(a, b);
    // The first side to notice drops its connection, so the other may see it close instead.
    expect(silent([...aliceEvents, ...bobEvents]).length).toBeGreaterThan(0);
    for (const events of [aliceEvents, bobEvents]) {
      const tickets = events.filter((e) => e.type === "ticket").map((e) => e.relay);
      expect(tickets[0]).toBe(stalling.dataPlane.name);
      expect(tickets.at(-1)).toBe(honest.name);
    }
    expect([a.relay, b.relay]).toEqual([honest.name, honest.name]);
  });
});

describe("a slow path that stays live", () => {
  it("is not dropped: silence is bounded, not the setup's time", async () => {
    // Every byte after PAIRED arrives a second late on alice's leg: each side waits at most
    // two seconds for the next, under the three-second bound, while the whole setup, two
    // round trips through that leg, takes four.
    const { proxy } = await attackedDataPlane([{ kind: "slow", ms: 1_000 }]);
    const events: ConnectEvent[] = [];
    const channel = "slow-path";
    const [a, b] = await Promise.all([
      open(fx.alice, channel, 3_000, (e) => events.push(e)),
      open(fx.bob, channel, 3_000, (e) => events.push(e)),
    ]);
    expect(proxy.attacked).toBe(1);
    expect(events.filter((e) => e.type === "retry")).toEqual([]);
    expect([a.framed, b.framed]).toEqual([true, true]);
    await exchange(a, b);
  });
});
