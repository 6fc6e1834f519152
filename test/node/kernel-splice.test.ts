import { readdirSync } from "node:fs";
import type { Socket } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { chooseSplicer } from "../../dataplane/pairs/kernel-splice.ts";
import type { Splice, Splicer } from "../../dataplane/pairs/splice.ts";
import type { RelayedSockets } from "../helpers/socket-pairs.ts";
import {
  closeAllRelayedSockets,
  closedWith,
  forgetRelaySides,
  pattern,
  readToEnd,
  relayedSockets,
  settled,
  writeAll,
} from "../helpers/socket-pairs.ts";
import { sha256 } from "../helpers/stream-digest.ts";

const kernel = chooseSplicer(true);
const fallback = chooseSplicer(false);
const LONG_MS = 60_000;

afterEach(closeAllRelayedSockets);

const side = (socket: Socket, pending: Buffer = Buffer.alloc(0)) => ({
  stream: socket,
  socket,
  pending,
  reset: () => socket.resetAndDestroy(),
});

function spliceWith(splicer: Splicer, s: RelayedSockets, idleTimeoutMs = LONG_MS, pendingB?: Buffer): Splice {
  return splicer(side(s.relayA), side(s.relayB, pendingB), { idleTimeoutMs });
}

it("loads the kernel splice on Linux with the addon built (npm ci builds it)", () => {
  expect(kernel.path === "js" ? kernel.why : "kernel").toBe("kernel");
});

it("uses the JS splice when turned off", () => {
  expect(fallback).toMatchObject({ path: "js", why: "turned off (FLOCK_NATIVE_SPLICE=0)" });
});

describe.each([
  ["kernel", kernel.splice],
  ["js", fallback.splice],
] as const)("%s splice", (_name, splicer) => {
  it("moves bytes both ways at once, intact, and counts them", async () => {
    const s = await relayedSockets();
    const spliced = spliceWith(splicer, s);
    const forward = pattern(6 * 1024 * 1024 + 7, 1);
    const backward = pattern(5 * 1024 * 1024 + 3, 2);
    const atB = readToEnd(s.b);
    const atA = readToEnd(s.a);
    await Promise.all([writeAll(s.a, forward), writeAll(s.b, backward)]);
    expect(sha256(await atB)).toBe(sha256(forward));
    expect(sha256(await atA)).toBe(sha256(backward));
    expect(await spliced.done).toEqual({ reason: "closed", aToB: forward.length, bToA: backward.length });
    expect(spliced.bytes()).toBe(forward.length + backward.length);
  });

  it("sends first what the relay wrote and read before the splice, in order", async () => {
    const s = await relayedSockets();
    // Read by the relay but not consumed, as a hello's trailing bytes are.
    s.a.write("a-early|");
    await new Promise((resolve) => s.relayA.once("readable", resolve));
    // Put back by the relay, as a hello's trailing bytes are.
    s.relayB.unshift(Buffer.from("b-early|"));
    // More than the kernel takes at once from a relay whose reader is not reading yet.
    const paired = pattern(8 * 1024 * 1024, 3);
    s.relayB.write(paired);
    s.relayA.write("paired-a|");
    // Held by the relay while b waited for its peer.
    const spliced = spliceWith(splicer, s, LONG_MS, Buffer.from("b-held|"));
    const atB = readToEnd(s.b);
    const atA = readToEnd(s.a);
    s.a.end("a-late");
    s.b.end("b-late");
    expect((await atA).toString()).toBe("paired-a|b-held|b-early|b-late");
    const gotB = await atB;
    expect(sha256(gotB.subarray(0, paired.length))).toBe(sha256(paired));
    expect(gotB.subarray(paired.length).toString()).toBe("a-early|a-late");
    expect(await spliced.done).toMatchObject({ reason: "closed", aToB: 14, bToA: 21 });
  });

  it("passes an end each way on its own (half-close)", async () => {
    const s = await relayedSockets();
    const spliced = spliceWith(splicer, s);
    const atB = readToEnd(s.b);
    s.a.end("request");
    expect((await atB).toString()).toBe("request");
    // The other way is still open after the end: b answers, then ends too.
    const atA = readToEnd(s.a);
    s.b.write("response, ");
    s.b.end("done");
    expect((await atA).toString()).toBe("response, done");
    expect(await spliced.done).toEqual({ reason: "closed", aToB: 7, bToA: 14 });
  });

  it("turns a reset on one side into a reset of the other", async () => {
    const s = await relayedSockets();
    const spliced = spliceWith(splicer, s);
    const bDied = closedWith(s.b);
    s.a.resetAndDestroy();
    expect((await bDied)?.code).toBe("ECONNRESET");
    expect((await spliced.done).reason).toBe("reset");
  });

  it("passes on a reset of a stalled reader while its writer is held back", async () => {
    const s = await relayedSockets();
    const spliced = spliceWith(splicer, s);
    s.b.pause();
    void writeAll(s.a, pattern(32 * 1024 * 1024, 4), false).catch(() => {});
    await settled(() => spliced.bytes());
    const aDied = closedWith(s.a);
    s.b.resetAndDestroy();
    expect((await aDied)?.code).toBe("ECONNRESET");
    expect((await spliced.done).reason).toBe("reset");
  });

  it("holds a writer back while its reader stalls, then delivers everything", async () => {
    const s = await relayedSockets();
    const spliced = spliceWith(splicer, s);
    s.b.pause();
    const queued = pattern(64 * 1024 * 1024, 5);
    // One write: writableLength then shows how much the relay has not taken.
    s.a.end(queued);
    const moved = await settled(() => spliced.bytes());
    expect(moved).toBeLessThan(queued.length / 2);
    expect(s.a.writableLength).toBeGreaterThan(queued.length / 2);
    const atB = readToEnd(s.b);
    s.b.end();
    expect(sha256(await atB)).toBe(sha256(queued));
    expect(await spliced.done).toEqual({ reason: "closed", aToB: queued.length, bToA: 0 });
  });

  // The data plane's own ends are resets, never a clean end (docs/data-plane.md, "Pairing and splicing").
  it("ends a pair idle for the idle timeout, resetting both sides", async () => {
    const s = await relayedSockets();
    const spliced = spliceWith(splicer, s, 150);
    const aDied = closedWith(s.a);
    const bDied = closedWith(s.b);
    expect(await spliced.done).toEqual({ reason: "idle_timeout", aToB: 0, bToA: 0 });
    expect((await Promise.all([aDied, bDied])).map((e) => e?.code)).toEqual(["ECONNRESET", "ECONNRESET"]);
  });

  it("stops on request with the reason given and the bytes moved so far", async () => {
    const s = await relayedSockets();
    const spliced = spliceWith(splicer, s);
    const payload = pattern(1024 * 1024, 6);
    const atB = new Promise<number>((resolve) => {
      let n = 0;
      s.b.on("data", (chunk: Buffer) => {
        n += chunk.length;
        if (n === payload.length) resolve(n);
      });
    });
    s.a.write(payload);
    await atB;
    const aDied = closedWith(s.a);
    spliced.stop("drained");
    expect(await spliced.done).toEqual({ reason: "drained", aToB: payload.length, bToA: 0 });
    expect((await aDied)?.code).toBe("ECONNRESET");
  });
});

describe.runIf(kernel.path === "kernel")("kernel splice resources", () => {
  const stats = () => (kernel.path === "kernel" ? kernel.stats() : { pairs: 0, pipesOpen: 0, pipesIdle: 0 });
  const maxIdlePipes = kernel.path === "kernel" ? kernel.maxIdlePipes : 0;
  const threads = () => readdirSync("/proc/self/task").length;

  // The JS splice sees this reset only once the reader drains: Node does not poll a paused socket.
  it("ends the pair as reset when a writer held back by a stalled reader resets", async () => {
    const s = await relayedSockets();
    const spliced = spliceWith(kernel.splice, s);
    s.b.pause();
    void writeAll(s.a, pattern(32 * 1024 * 1024, 4), false).catch(() => {});
    await settled(() => spliced.bytes());
    s.a.resetAndDestroy();
    expect((await spliced.done).reason).toBe("reset");
  });

  it("lets go of the JS sockets once the kernel has them, so an idle pair holds none", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    // Made in a scope of their own, so only the splice could still hold the relay's sockets.
    const handedOver = async () => {
      const s = await relayedSockets();
      forgetRelaySides(s);
      const spliced = spliceWith(kernel.splice, s);
      return { spliced, parties: [s.a, s.b], relaySides: [new WeakRef(s.relayA), new WeakRef(s.relayB)] };
    };
    const { spliced, parties, relaySides } = await handedOver();
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc();
    expect(relaySides.map((side) => side.deref())).toEqual([undefined, undefined]);
    // The pair still works without them.
    const [a, b] = parties as [Socket, Socket];
    const atB = readToEnd(b);
    a.end("still spliced");
    expect((await atB).toString()).toBe("still spliced");
    spliced.stop("stopped");
  });

  it("moves every pair on one thread, and idle pairs hold no pipe", async () => {
    const before = threads();
    const pairs = await Promise.all(Array.from({ length: 20 }, () => relayedSockets()));
    const spliced = pairs.map((s) => spliceWith(kernel.splice, s));
    await Promise.all(
      pairs.map(async (s) => {
        const atB = readToEnd(s.b);
        await writeAll(s.a, pattern(256 * 1024, 7), false);
        s.a.end();
        return atB;
      }),
    );
    expect(threads()).toBe(before);
    expect(stats().pairs).toBe(20);
    expect(stats().pipesOpen).toBe(stats().pipesIdle);
    for (const s of spliced) s.stop("stopped");
    await Promise.all(spliced.map((s) => s.done));
  });

  it("keeps at most maxIdlePipes empty pipes once a burst is over", async () => {
    // Each stalled direction holds a pipe: more of them than the pool keeps.
    const count = maxIdlePipes / 2 + 4;
    const pairs = await Promise.all(Array.from({ length: count }, () => relayedSockets()));
    const spliced = pairs.map((s) => spliceWith(kernel.splice, s));
    // More than kernel socket buffers hold on loopback, so the rest waits in the pipes.
    const burst = pattern(6 * 1024 * 1024, 8);
    for (const s of pairs) {
      s.a.pause();
      s.b.pause();
      s.a.end(burst);
      s.b.end(burst);
    }
    await expect.poll(() => stats().pipesOpen, { timeout: 20_000 }).toBeGreaterThan(maxIdlePipes);
    await Promise.all(pairs.flatMap((s) => [readToEnd(s.a), readToEnd(s.b)]));
    await Promise.all(spliced.map((s) => s.done));
    expect(stats()).toEqual({ pairs: 0, pipesOpen: maxIdlePipes, pipesIdle: maxIdlePipes });
  });
});
