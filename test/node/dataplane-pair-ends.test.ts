import { afterEach, describe, expect, it } from "vitest";
import type { DataPlane } from "../../dataplane/server.ts";
import { dialWithTicket, TRANSPORTS } from "../helpers/dataplane-client.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

const fx = useDataPlaneFixtures();
afterEach(() => {
  fx.worker.revokedFingerprints = [];
});

/**
 * When the data plane ends a pair for its own reasons, a party must never mistake it for
 * the end of its stream: a clean TCP end is what a finished stream looks like. So every
 * such end is a TCP reset, under every transport (on WebSocket: no close frame either).
 */
const OWN_ENDS: Array<[string, Record<string, number>, (dp: DataPlane) => Promise<unknown>]> = [
  ["the idle timeout", { idleTimeoutMs: 200 }, async () => {}],
  ["the drain deadline", {}, (dp) => dp.drain(50)],
  ["a stop", {}, (dp) => dp.stop()],
  [
    "a revocation",
    {},
    (dp) => {
      fx.worker.revokedFingerprints = [fx.a.thumbprint];
      return dp.reportNow();
    },
  ],
];

describe.each(TRANSPORTS)("over %s", (transport) => {
  it.each(OWN_ENDS)("resets both sides at %s", async (_, limits, end) => {
    const dp = await fx.start(limits);
    const a = await dialWithTicket(fx, dp.port, transport, fx.a, fx.b);
    const b = await dialWithTicket(fx, dp.port, transport, fx.b, fx.a);
    await Promise.all([a.paired(), b.paired()]);
    a.dataStream().resume();
    b.dataStream().resume();
    await end(dp);
    expect(await Promise.all([a.tcpEnd, b.tcpEnd])).toEqual(["reset", "reset"]);
  });

  it("ends both sides cleanly when both directions finished", async () => {
    if (transport === "ws" || transport === "wss") return; // no half-close: see dataplane-transports
    const dp = await fx.start();
    const a = await dialWithTicket(fx, dp.port, transport, fx.a, fx.b);
    const b = await dialWithTicket(fx, dp.port, transport, fx.b, fx.a);
    await Promise.all([a.paired(), b.paired()]);
    a.dataStream().resume();
    b.dataStream().resume();
    a.stream.end();
    b.stream.end();
    expect(await Promise.all([a.tcpEnd, b.tcpEnd])).toEqual(["clean", "clean"]);
  });
});
