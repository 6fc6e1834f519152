/**
 * A data plane learns from the worker that it was revoked (its load report is refused with
 * RELAY_REVOKED) and stops: waiting sides get DRAINING, so the SDK fetches a new ticket and
 * meets its peer on another relay; the revoked one's port closes.
 */
import { connect as netConnect } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import type { Channel, ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

const fx = useSystemWithPair({ dataPlane: false });
const channels: Channel[] = [];

afterAll(() => {
  for (const c of channels) c.socket.destroy();
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

describe("a revoked data plane", () => {
  it("stops, and its waiting side meets the peer on another relay", async () => {
    const doomed: DataPlane = await fx.system.startDataPlane("doomed");
    const events: ConnectEvent[] = [];
    const aliceSide = openChannel({ identity: fx.alice, channel: "moving", onEvent: (e) => events.push(e) });
    await until(() => doomed.waitingSides() === 1);

    await fx.system.startDataPlane("spare");
    await fx.system.admin.revokeRelay("doomed");
    await doomed.reportNow();
    await doomed.revoked;

    const bobSide = await openChannel({ identity: fx.bob, channel: "moving" });
    channels.push(bobSide, await aliceSide);
    expect(bobSide.relay).toBe("spare");
    const retry = events.find((e) => e.type === "retry");
    expect(retry?.type === "retry" && retry.error.code).toBe("DRAINING");
    expect(events.filter((e) => e.type === "ticket").map((e) => e.type === "ticket" && e.relay)).toEqual([
      "doomed",
      "spare",
    ]);

    const [a] = channels.slice(-1);
    const echoed = new Promise<string>((resolve) => bobSide.socket.once("data", (d) => resolve(String(d))));
    a?.socket.write("still private");
    expect(await echoed).toBe("still private");

    expect(doomed.waitingSides()).toBe(0);
    expect(await refusesConnections(doomed.port)).toBe(true);
  });
});
