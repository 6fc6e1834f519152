import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { MIN_WINDOW_BYTES } from "../../client/stream/control-frames.ts";
import type { StreamEvent } from "../../client/stream/framed-stream.ts";
import { FramedStream } from "../../client/stream/framed-stream.ts";
import { encodeDataHeader } from "../../client/stream/frames.ts";
import type { OwnPosition, Resumed, Resumer } from "../../client/stream/resume-within.ts";
import { ZERO_COPY_MIN_BYTES } from "../../client/stream/send-buffer.ts";
import type { StreamLimits } from "../../client/stream/stream-limits.ts";
import { streamLimits } from "../../client/stream/stream-limits.ts";
import { FlockError } from "../../protocol/errors.ts";
import type { LinkOptions } from "../helpers/memory-link.ts";
import { memoryLink } from "../helpers/memory-link.ts";

const opened: Duplex[] = [];
afterEach(() => {
  for (const stream of opened.splice(0)) stream.destroy();
});

const fast: Partial<StreamLimits> = { heartbeatMs: 20, silenceMs: 200, resumeDeadlineMs: 2_000 };

/**
 * Both sides' resumers meet here: the second to ask gets a fresh link with the first, and
 * each learns the other's position, as the RESUME frames would tell them.
 */
function rendezvous(links: (attempt: number) => LinkOptions, window: number): [Resumer, Resumer] {
  let first: { own: OwnPosition; resolve: (resumed: Resumed) => void } | undefined;
  let attempt = 0;
  const resumer: Resumer = (own, signal) =>
    new Promise((resolve, reject) => {
      signal.addEventListener("abort", () => reject(new FlockError("CONNECT_TIMEOUT")));
      if (!first) {
        first = { own, resolve };
        return;
      }
      const [a, b] = memoryLink(links(++attempt));
      first.resolve({ transport: a, peer: { ...own, window } });
      resolve({ transport: b, peer: { ...first.own, window } });
      first = undefined;
    });
  return [resumer, resumer];
}

function sessions(
  link: LinkOptions,
  options: { limits?: Partial<StreamLimits>; resume?: [Resumer, Resumer]; events?: StreamEvent[] } = {},
): [FramedStream, FramedStream] {
  const limits = streamLimits({ ...fast, ...options.limits });
  const [a, b] = memoryLink(link);
  const make = (transport: Duplex, resume: Resumer | undefined) =>
    new FramedStream(transport, {
      limits,
      peerWindow: limits.windowBytes,
      ...(resume ? { resume } : {}),
      onEvent: (event) => options.events?.push(event),
    });
  const pair: [FramedStream, FramedStream] = [make(a, options.resume?.[0]), make(b, options.resume?.[1])];
  // Tests that expect an error listen for it; the others fail on the assertion, not on an unhandled event.
  for (const stream of pair) stream.on("error", () => {});
  opened.push(...pair);
  return pair;
}

interface Outcome {
  data: Buffer;
  ended: boolean;
  /** The write side's 'finish': the peer acknowledged everything and the end. */
  finished: boolean;
  error: FlockError | undefined;
}

/** Writes `payload` in random-ish chunks, ends, and reads everything until close. */
function run(stream: FramedStream, payload: Buffer, chunk = 7_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const outcome: Outcome = { data: Buffer.alloc(0), ended: false, finished: false, error: undefined };
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      outcome.ended = true;
    });
    stream.on("finish", () => {
      outcome.finished = true;
    });
    stream.on("error", (error) => {
      outcome.error = error as FlockError;
    });
    stream.on("close", () => resolve({ ...outcome, data: Buffer.concat(chunks) }));
    let at = 0;
    const writeMore = () => {
      while (at < payload.length) {
        const piece = payload.subarray(at, at + chunk);
        at += piece.length;
        if (!stream.write(piece)) {
          stream.once("drain", writeMore);
          return;
        }
      }
      stream.end();
    };
    writeMore();
  });
}

const bytes = (n: number, seed = 1) => {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A receiver may end only with every byte; otherwise it must fail with STREAM_TRUNCATED. */
function expectExactOrTruncated(outcome: Outcome, sent: Buffer): void {
  if (outcome.ended) expect(sha(outcome.data)).toBe(sha(sent));
  else {
    expect(outcome.error?.code).toBe("STREAM_TRUNCATED");
    expect(Buffer.compare(outcome.data, sent.subarray(0, outcome.data.length))).toBe(0);
    expect(outcome.error?.message).toContain(`${outcome.data.length} bytes from the peer arrived`);
  }
  if (outcome.error) expect(outcome.error.code).toBe("STREAM_TRUNCATED");
}

describe("FramedStream", () => {
  it("carries both directions byte-exact with half-close, and closes cleanly", async () => {
    const [a, b] = sessions({});
    const toB = bytes(300_000, 1);
    const toA = bytes(123_457, 2);
    const [atA, atB] = await Promise.all([run(a, toA.subarray(0, 0)), run(b, toA)]);
    expect(atA.data.equals(toA)).toBe(true);
    expect(atB.data.length).toBe(0);
    expect([atA.error, atB.error, atA.ended, atB.ended, atA.finished, atB.finished]).toEqual([
      undefined,
      undefined,
      true,
      true,
      true,
      true,
    ]);
    const [c, d] = sessions({});
    const [atC, atD] = await Promise.all([run(c, toB), run(d, toA)]);
    expect(atD.data.equals(toB)).toBe(true);
    expect(atC.data.equals(toA)).toBe(true);
  });

  it("keeps one direction open after the other ended", async () => {
    const [a, b] = sessions({});
    a.end();
    b.resume();
    await new Promise((resolve) => b.once("end", resolve));
    const got = new Promise<string>((resolve) => a.once("data", (c: Buffer) => resolve(c.toString())));
    b.write("still here");
    expect(await got).toBe("still here");
  });

  it("fails with STREAM_TRUNCATED, never a clean end, when the transport ends without END", async () => {
    const payload = bytes(200_000);
    const [a, b] = sessions({ aToB: { at: 50_000, how: "fin" } });
    const [, atB] = await Promise.all([run(a, payload), run(b, Buffer.alloc(0))]);
    expect(atB.ended).toBe(false);
    expect(atB.error?.code).toBe("STREAM_TRUNCATED");
    expect(atB.data.length).toBeLessThan(50_000);
    expect(atB.error?.message).toContain(`${atB.data.length} bytes from the peer arrived without`);
  });

  it("any cut anywhere, without resume: every receiver gets all bytes or STREAM_TRUNCATED", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 150_000 }),
        fc.integer({ min: 0, max: 150_000 }),
        fc.constantFrom("aToB", "bToA"),
        fc.constantFrom("fin", "reset", "stall"),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 1, max: 70_000 }),
        async (sizeA, sizeB, direction, how, at, chunk) => {
          const toB = bytes(sizeA, 3);
          const toA = bytes(sizeB, 4);
          const [a, b] = sessions({ [direction]: { at, how } });
          const [atA, atB] = await Promise.all([run(a, toB, chunk), run(b, toA, chunk)]);
          expectExactOrTruncated(atA, toA);
          expectExactOrTruncated(atB, toB);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("any cuts, with resume: both directions heal byte-exact and both sides finish", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.array(
          fc.record({
            direction: fc.constantFrom("aToB", "bToA"),
            how: fc.constantFrom("fin", "reset", "stall"),
            at: fc.integer({ min: 0, max: 120_000 }),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        async (sizeA, sizeB, cuts) => {
          const link = (i: number): LinkOptions => {
            const cut = cuts[i];
            return cut ? { [cut.direction]: { at: cut.at, how: cut.how } } : {};
          };
          const events: StreamEvent[] = [];
          const resume = rendezvous(link, streamLimits().windowBytes);
          const toB = bytes(sizeA, 5);
          const toA = bytes(sizeB, 6);
          const [a, b] = sessions(link(0), { resume, events });
          const [atA, atB] = await Promise.all([run(a, toB), run(b, toA)]);
          expect([atA.error?.message, atB.error?.message]).toEqual([undefined, undefined]);
          expect(sha(atB.data)).toBe(sha(toB));
          expect(sha(atA.data)).toBe(sha(toA));
          expect([atA.finished, atB.finished, atA.ended, atB.ended]).toEqual([true, true, true, true]);
        },
      ),
      {
        numRuns: 40,
        // Found by this property: the side that completes first must stay until the peer's CLOSE.
        examples: [
          [
            87_005,
            36_680,
            [
              { direction: "aToB", how: "stall", at: 7 },
              { direction: "aToB", how: "reset", at: 3 },
            ],
          ],
        ],
      },
    );
  });

  it("with zeroCopyWrites, sends long writes without copying them, and resends them byte-exact after cuts", async () => {
    const cuts: LinkOptions[] = [{ aToB: { at: 150_000, how: "reset" } }, { bToA: { at: 20, how: "fin" } }];
    const resume = rendezvous((i) => cuts[i] ?? {}, streamLimits().windowBytes);
    const events: StreamEvent[] = [];
    const [a, b] = sessions(cuts[0] as LinkOptions, { resume, events, limits: { zeroCopyWrites: true } });
    const toB = bytes(1_500_000, 7);
    a.write(toB.subarray(0, ZERO_COPY_MIN_BYTES));
    expect(a.sendBuffered).toEqual({ held: ZERO_COPY_MIN_BYTES, allocated: 0 });
    const [atA, atB] = await Promise.all([
      run(a, toB.subarray(ZERO_COPY_MIN_BYTES), ZERO_COPY_MIN_BYTES + 1),
      run(b, bytes(10, 8)),
    ]);
    expect([atA.error?.message, atB.error?.message]).toEqual([undefined, undefined]);
    expect(sha(atB.data)).toBe(sha(toB));
    expect(atA.data.equals(bytes(10, 8))).toBe(true);
    expect(events.filter((e) => e.type === "resumed").length).toBeGreaterThanOrEqual(2);
  });

  it("fails with STREAM_TRUNCATED once the resume deadline passes", async () => {
    const never: Resumer = () => new Promise(() => {});
    const [a, b] = sessions(
      { aToB: { at: 10_000, how: "reset" } },
      { resume: [never, never], limits: { resumeDeadlineMs: 100 } },
    );
    const [atA, atB] = await Promise.all([run(a, bytes(50_000)), run(b, Buffer.alloc(0))]);
    expect(atB.error?.code).toBe("STREAM_TRUNCATED");
    expect(atB.error?.message).toContain("not resumed within the resume deadline (100 ms)");
    expect(atA.error?.code).toBe("STREAM_TRUNCATED");
    expect(atA.error?.message).toMatch(/the peer acknowledged \d+ of the 50000 bytes sent and the end/);
  });

  it("says why the last resume attempt failed when the resumer gives up at the deadline", async () => {
    const tellsWhy: Resumer = (_own, signal) =>
      new Promise((_resolve, reject) =>
        signal.addEventListener("abort", () => reject(new FlockError("PEER_TIMEOUT", "nobody came"))),
      );
    const [a, b] = sessions(
      { aToB: { at: 10_000, how: "reset" } },
      { resume: [tellsWhy, tellsWhy], limits: { resumeDeadlineMs: 100 } },
    );
    const [, atB] = await Promise.all([run(a, bytes(50_000)), run(b, Buffer.alloc(0))]);
    expect(atB.error?.code).toBe("STREAM_TRUNCATED");
    expect(atB.error?.message).toContain("Resuming failed: nobody came");
    expect((atB.error?.cause as FlockError).code).toBe("PEER_TIMEOUT");
  });

  it("treats a silent peer as a dead path (silenceMs), and heals through a resume", async () => {
    const events: StreamEvent[] = [];
    const resume = rendezvous(() => ({}), streamLimits().windowBytes);
    const [a, b] = sessions({ aToB: { at: 20_000, how: "stall" } }, { resume, events });
    const [atA, atB] = await Promise.all([run(a, bytes(60_000)), run(b, bytes(10))]);
    expect(atB.data.equals(bytes(60_000))).toBe(true);
    expect(atA.data.equals(bytes(10))).toBe(true);
    expect(
      events.some((e) => e.type === "broken" && /no frame from the peer for 200 ms/.test(e.reason)),
    ).toBe(true);
    expect(events.filter((e) => e.type === "resumed")).toHaveLength(2);
  });

  it("bounds the writer's buffer by the window while the reader stalls (backpressure)", async () => {
    const window = MIN_WINDOW_BYTES * 2;
    const [a, b] = sessions({}, { limits: { windowBytes: window } });
    b.pause();
    let accepted = 0;
    const chunk = Buffer.alloc(16 * 1024);
    await new Promise<void>((resolve) => {
      const more = () => {
        while (accepted < 64 * window) {
          accepted += chunk.length;
          if (!a.write(chunk)) {
            a.once("drain", more);
            return;
          }
        }
        resolve();
      };
      more();
      setTimeout(resolve, 300);
    });
    expect(a.sendBuffered.held).toBeLessThanOrEqual(window);
    expect(a.sendBuffered.allocated).toBeLessThanOrEqual(window + 64 * 1024);
    expect(a.bytesWritten).toBeLessThanOrEqual(window + b.readableHighWaterMark + 256 * 1024);
    expect(accepted).toBeLessThan(64 * window);
  });

  it("turns the peer's destroy(error) into STREAM_ABORTED, not a truncation or a resume", async () => {
    const resume = rendezvous(() => ({}), streamLimits().windowBytes);
    const [a, b] = sessions({}, { resume });
    const failed = new Promise<FlockError>((resolve) => b.once("error", (e) => resolve(e as FlockError)));
    a.write("x");
    a.destroy(new FlockError("CONFIG_INVALID", "the application changed its mind"));
    const error = await failed;
    expect(error.code).toBe("STREAM_ABORTED");
    expect(error.message).toContain("the application changed its mind (CONFIG_INVALID)");
    expect(b.resuming).toBe(false);
  });

  it("turns a peer's destroy() before the end into STREAM_ABORTED", async () => {
    const [a, b] = sessions({});
    const failed = new Promise<FlockError>((resolve) => b.once("error", (e) => resolve(e as FlockError)));
    a.destroy();
    expect((await failed).code).toBe("STREAM_ABORTED");
  });

  it("refuses a DATA frame at the wrong offset with BAD_STREAM_FRAME, and tells the peer", async () => {
    const [raw, other] = memoryLink();
    const stream = new FramedStream(other, { limits: streamLimits(fast), peerWindow: MIN_WINDOW_BYTES });
    opened.push(stream, raw);
    const failed = new Promise<FlockError>((resolve) =>
      stream.once("error", (e) => resolve(e as FlockError)),
    );
    const answer: Buffer[] = [];
    raw.on("data", (c: Buffer) => answer.push(c));
    const ended = new Promise((resolve) => raw.once("end", resolve));
    raw.write(Buffer.concat([encodeDataHeader(5, 1), Buffer.from("x")]));
    expect((await failed).code).toBe("BAD_STREAM_FRAME");
    await ended;
    expect(Buffer.concat(answer).toString()).toContain("BAD_STREAM_FRAME");
  });
});

describe("streamLimits", () => {
  it("refuses windows outside MIN_WINDOW_BYTES..MAX_WINDOW_BYTES and non-positive timeouts", () => {
    expect(() => streamLimits({ windowBytes: MIN_WINDOW_BYTES - 1 })).toThrow(/window/);
    expect(() => streamLimits({ windowBytes: 2 ** 31 })).toThrow(/window/);
    expect(() => streamLimits({ resumeDeadlineMs: 0 })).toThrow(/resumeDeadlineMs/);
    expect(() => streamLimits({ heartbeatMs: 100, silenceMs: 100 })).toThrow(/silenceMs/);
    expect(() => streamLimits({ zeroCopyWrites: "yes" as unknown as boolean })).toThrow(/zeroCopyWrites/);
    expect(streamLimits().windowBytes).toBe(4 * 1024 * 1024);
    expect(streamLimits().zeroCopyWrites).toBe(false);
  });
});
