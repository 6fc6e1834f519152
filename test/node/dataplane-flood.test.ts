import type { Socket } from "node:net";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { MAGIC } from "../../protocol/frames.ts";
import { TestParty } from "../helpers/dataplane-client.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

const fx = useDataPlaneFixtures();

/** How soon a flood connection that was dropped comes back. */
const REOPEN_AFTER_MS = 50;

/**
 * Connections that send half of MAGIC and stall, from `networks` loopback /24s (127.0.0.0/8
 * needs no setup), `perNetwork` from each, each reopened whenever the relay drops it.
 */
function flood(port: number, networks: number, perNetwork: number): { stop(): void } {
  let running = true;
  const sockets = new Set<Socket>();
  const open = (localAddress: string) => {
    if (!running) return;
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    sockets.add(socket);
    socket.on("error", () => {});
    socket.resume();
    socket.once("connect", () => socket.write(MAGIC.subarray(0, 2)));
    socket.once("close", () => {
      sockets.delete(socket);
      setTimeout(() => open(localAddress), REOPEN_AFTER_MS);
    });
  };
  for (let n = 0; n < networks; n++) {
    for (let k = 0; k < perNetwork; k++) open(`127.${n + 1}.0.${k + 1}`);
  }
  return {
    stop() {
      running = false;
      for (const socket of sockets) socket.destroy();
    },
  };
}

async function refusedForCapacity(dp: {
  metrics: { errors: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> } };
}) {
  const { values } = await dp.metrics.errors.get();
  return values.find((v) => (v.labels as { code?: string }).code === "OVER_CAPACITY")?.value ?? 0;
}

describe("a pre-authentication flood", () => {
  it("cannot keep a registered pair from meeting: a full pool makes room from the busiest network", async () => {
    // The magic deadline is long here, so only the pool's own fairness lets the pair in.
    const dp = await fx.start({
      maxHandshakingConnections: 32,
      maxHandshakingPerPrefix: 4,
      magicDeadlineMs: 60_000,
      helloDeadlineMs: 60_000,
    });
    const attack = flood(dp.port, 16, 4);
    try {
      // Full: more flood connections arrive than the pool holds, and some are refused.
      await expect.poll(() => refusedForCapacity(dp), { timeout: 10_000 }).toBeGreaterThan(0);
      const a = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
      await a.sendTicket(await fx.ticket(fx.a, fx.b), fx.a);
      const b = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
      await b.sendTicket(await fx.ticket(fx.b, fx.a), fx.b);
      await Promise.all([a.paired(), b.paired()]);
      a.dataStream().write("through the flood");
      const got = await new Promise<Buffer>((resolve) => b.dataStream().once("data", resolve));
      expect(got.toString()).toBe("through the flood");
    } finally {
      attack.stop();
    }
  });
});
