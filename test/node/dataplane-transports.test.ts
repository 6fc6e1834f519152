import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import type { TestParty, Transport } from "../helpers/dataplane-client.ts";
import { dialWithTicket, readAll, TRANSPORTS } from "../helpers/dataplane-client.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

const fx = useDataPlaneFixtures();

async function pair(port: number, ta: Transport, tb: Transport): Promise<[TestParty, TestParty]> {
  const a = await dialWithTicket(fx, port, ta, fx.a, fx.b);
  const b = await dialWithTicket(fx, port, tb, fx.b, fx.a);
  const [pa, pb] = await Promise.all([a.paired(), b.paired()]);
  expect(pa).toEqual({ type: "paired", peer: "alice/b", role: "client", pair: pa.pair });
  expect(pb).toEqual({ type: "paired", peer: "alice/a", role: "server", pair: pa.pair });
  return [a, b];
}

function receive(stream: Duplex, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      n += chunk.length;
      if (n >= bytes) {
        stream.off("data", onData);
        stream.pause();
        resolve(Buffer.concat(chunks));
      }
    };
    stream.on("data", onData);
    stream.once("close", () => reject(new Error(`closed after ${n} of ${bytes} bytes`)));
  });
}

describe.each(TRANSPORTS)("over %s", (transport) => {
  it("pairs two sides and moves bytes both ways", async () => {
    const dp = await fx.start();
    const [a, b] = await pair(dp.port, transport, transport);
    const sa = a.dataStream();
    const sb = b.dataStream();
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const atB = receive(sb, big.length);
    // In pieces, as a TLS client writes records; one WebSocket message is capped.
    for (let at = 0; at < big.length; at += 64 * 1024) sa.write(big.subarray(at, at + 64 * 1024));
    expect((await atB).equals(big)).toBe(true);
    const atA = receive(sa, 4);
    sb.write("pong");
    expect((await atA).toString()).toBe("pong");
    expect(dp.activePairs()).toBe(1);
  });

  it("passes an end from one side to the other (half-close)", async () => {
    const dp = await fx.start();
    const [a, b] = await pair(dp.port, transport, transport);
    const sa = a.dataStream();
    const sb = b.dataStream();
    sa.end("request");
    if (transport === "ws" || transport === "wss") {
      // WebSocket has no half-close and the parties' end-to-end TLS carries its own end, so a
      // WebSocket side is never closed for its peer's end: it may still be sending. The pair
      // closes once both sides closed (docs/data-plane.md, "Pairing and splicing").
      expect((await receive(sb, 7)).toString()).toBe("request");
      sb.end();
      await Promise.all([a.gone, b.gone]);
      await expect
        .poll(async () => (await dp.metrics.pairEnds.get()).values)
        .toContainEqual({ labels: { reason: "closed" }, value: 1 });
      return;
    }
    expect((await readAll(sb)).toString()).toBe("request");
    // The other direction is still open after the end: b answers and then ends too.
    sb.end("response");
    expect((await readAll(sa)).toString()).toBe("response");
  });

  it("turns a reset on one side into a reset of the other", async () => {
    const dp = await fx.start();
    const [a, b] = await pair(dp.port, transport, transport);
    b.dataStream().resume();
    a.abort();
    await b.gone;
    await expect
      .poll(async () => (await dp.metrics.pairEnds.get()).values)
      .toContainEqual({
        labels: { reason: "reset" },
        value: 1,
      });
  });
});

describe.each(TRANSPORTS.flatMap((x) => TRANSPORTS.map((y) => [x, y] as const)))("%s with %s", (ta, tb) => {
  it("pairs and echoes both ways", async () => {
    const dp = await fx.start();
    const [a, b] = await pair(dp.port, ta, tb);
    const sa = a.dataStream();
    const sb = b.dataStream();
    const atB = receive(sb, 5);
    sa.write("hello");
    expect((await atB).toString()).toBe("hello");
    const atA = receive(sa, 5);
    sb.write("world");
    expect((await atA).toString()).toBe("world");
  });
});
