import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ConnectEvent, StreamOptions } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import { digestToEnd, sha256 } from "../helpers/stream-digest.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * A draining data plane (SIGTERM) tells the worker first, then resets the pairs whose two
 * sides said in their hello that they resume: they reconnect through the worker to another
 * data plane and finish there, long before the drain deadline. Pairs that cannot resume run
 * on until they end or the deadline comes.
 */
const PAYLOAD_BYTES = 8 * 1024 * 1024;
/** Long: a moved pair must not be what ends the drain. */
const DRAIN_DEADLINE_MS = 60_000;

const fx = useSystemWithPair({ dataPlane: false });
let relays = 0;

async function pairOn(channel: string, stream: [StreamOptions, StreamOptions], events: ConnectEvent[]) {
  const open = (identity: IdentityMaterials, options: StreamOptions) =>
    openChannel({ identity, channel, stream: options, onEvent: (e) => events.push(e) });
  const pair = await Promise.all([open(fx.alice, stream[0]), open(fx.bob, stream[1])]);
  fx.sockets.push(...pair.map((c) => c.socket));
  return pair;
}

describe("a data plane that drains", () => {
  it("moves its resumable pairs to another data plane with no error, byte-exact", async () => {
    const planes = [
      await fx.system.startDataPlane(`drain-${++relays}`),
      await fx.system.startDataPlane(`drain-${++relays}`),
    ];
    const events: ConnectEvent[] = [];
    const [toBob, toAlice] = await pairOn("drain-moves", [{}, {}], events);
    const draining = planes.find((p) => p.name === toBob.relay) as DataPlane;
    const payload = randomBytes(PAYLOAD_BYTES);
    const atBob = digestToEnd(toAlice.socket);
    toAlice.socket.end();
    toBob.socket.resume();
    toBob.socket.write(payload.subarray(0, PAYLOAD_BYTES / 2));
    await new Promise((resolve) => toAlice.socket.once("data", resolve));
    const bothResumed = new Promise<void>((resolve) => {
      const check = () =>
        events.filter((e) => e.type === "resumed").length === 2 ? resolve() : setTimeout(check, 10);
      check();
    });
    const drained = draining.drain(DRAIN_DEADLINE_MS);
    await bothResumed;
    toBob.socket.end(payload.subarray(PAYLOAD_BYTES / 2));
    expect(await atBob).toBe(sha256(payload));
    await new Promise((resolve) => toBob.socket.once("close", resolve));
    // The drain ended when the moved pair left, not at its deadline.
    await drained;
    expect(draining.activePairs()).toBe(0);
    const broken = events.findIndex((e) => e.type === "broken");
    const resumedOn = events.slice(broken).filter((e) => e.type === "ticket");
    expect(resumedOn.length).toBeGreaterThan(0);
    expect(resumedOn.every((e) => e.type === "ticket" && e.relay !== draining.name)).toBe(true);
    await draining.stop();
  });

  it("lets a pair that cannot resume run on instead of cutting it", async () => {
    const planes = [
      await fx.system.startDataPlane(`drain-${++relays}`),
      await fx.system.startDataPlane(`drain-${++relays}`),
    ];
    const events: ConnectEvent[] = [];
    // Bob's side does not resume: the data plane must not reset the pair early.
    const [toBob, toAlice] = await pairOn("drain-stays", [{}, { resume: false }], events);
    const draining = planes.find((p) => p.name === toBob.relay) as DataPlane;
    const drained = draining.drain(DRAIN_DEADLINE_MS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(draining.activePairs()).toBe(1);
    const payload = randomBytes(1024 * 1024);
    const atBob = digestToEnd(toAlice.socket);
    toAlice.socket.end();
    toBob.socket.resume();
    toBob.socket.end(payload);
    expect(await atBob).toBe(sha256(payload));
    await drained;
    expect(events.some((e) => e.type === "broken")).toBe(false);
    await draining.stop();
  });
});
