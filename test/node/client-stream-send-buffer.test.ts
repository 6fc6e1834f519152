import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DATA_HEADER_BYTES, MAX_DATA_FRAME_BYTES } from "../../client/stream/frames.ts";
import {
  HEADER_ROOMS_PER_BLOCK,
  MAX_BLOCK_ALLOCATION,
  MIN_BLOCK_ALLOCATION,
  SendBuffer,
  ZERO_COPY_MIN_BYTES,
} from "../../client/stream/send-buffer.ts";

/** A window of four minimum blocks: blocks of 64 KiB, BLOCK_BYTES of payload each. */
const WINDOW = 4 * MIN_BLOCK_ALLOCATION;
const BLOCK_BYTES = new SendBuffer(WINDOW).blockBytes;

/** The payload of the DATA frame `frame(offset)` gives, after checking its header. */
function payloadAt(buffer: SendBuffer, offset: number): Buffer {
  const { buffers, length } = buffer.frame(offset);
  const frame = Buffer.concat(buffers);
  expect(frame.readUInt32BE(5)).toBe(offset);
  expect(frame.readUInt32BE(9)).toBe(length);
  expect(frame.length).toBe(DATA_HEADER_BYTES + length);
  return frame.subarray(DATA_HEADER_BYTES);
}

describe("SendBuffer", () => {
  it("never holds more than its window, and takes only what fits", () => {
    const buffer = new SendBuffer(100_000);
    expect(buffer.append(Buffer.alloc(60_000))).toBe(60_000);
    expect(buffer.append(Buffer.alloc(60_000))).toBe(40_000);
    expect(buffer.append(Buffer.alloc(1))).toBe(0);
    expect(buffer.held).toBe(100_000);
    buffer.acknowledge(30_000);
    expect(buffer.room).toBe(30_000);
    expect(buffer.append(Buffer.alloc(60_000))).toBe(30_000);
    expect(buffer.end).toBe(130_000);
  });

  it("makes a block a quarter window, as a power of two from MIN_BLOCK_ALLOCATION to MAX_BLOCK_ALLOCATION", () => {
    const block = (window: number) => new SendBuffer(window).blockAllocation;
    expect(block(64 * 1024)).toBe(MIN_BLOCK_ALLOCATION);
    expect(block(300 * 1024)).toBe(64 * 1024);
    expect(block(1024 * 1024)).toBe(256 * 1024);
    expect(block(4 * 1024 * 1024)).toBe(MAX_BLOCK_ALLOCATION);
    expect(block(1024 * 1024 * 1024)).toBe(MAX_BLOCK_ALLOCATION);
    expect(new SendBuffer(4 * 1024 * 1024).blockBytes).toBe(MAX_BLOCK_ALLOCATION - DATA_HEADER_BYTES);
  });

  it("copies what it takes, so the writer may reuse its buffer", () => {
    const buffer = new SendBuffer(WINDOW);
    const chunk = Buffer.from("abc");
    buffer.append(chunk);
    chunk.fill(0);
    expect(payloadAt(buffer, 0).toString()).toBe("abc");
  });

  it("packs small writes into shared blocks, reuses acknowledged ones, and holds none when idle", () => {
    const buffer = new SendBuffer(WINDOW);
    for (let i = 0; i < 1000; i++) buffer.append(Buffer.alloc(10));
    expect(buffer.allocated).toBe(DATA_HEADER_BYTES + BLOCK_BYTES);
    buffer.append(Buffer.alloc(2 * BLOCK_BYTES));
    expect(buffer.allocated).toBe(3 * (DATA_HEADER_BYTES + BLOCK_BYTES));
    buffer.acknowledge(BLOCK_BYTES + 1);
    expect(buffer.allocated).toBe(3 * (DATA_HEADER_BYTES + BLOCK_BYTES));
    buffer.append(Buffer.alloc(BLOCK_BYTES));
    expect(buffer.allocated).toBe(3 * (DATA_HEADER_BYTES + BLOCK_BYTES));
    buffer.acknowledge(buffer.end);
    expect(buffer.allocated).toBe(0);
  });

  it("reuses acknowledged blocks: a busy stream allocates none after its first window", () => {
    const buffer = new SendBuffer(WINDOW);
    const blocks = new Set<ArrayBufferLike>();
    const chunk = Buffer.alloc(10_000);
    for (let i = 0; i < 200; i++) {
      let taken = chunk.length;
      while (taken === chunk.length) taken = buffer.append(chunk);
      for (let at = buffer.acked; at < buffer.end; ) {
        const frame = buffer.frame(at);
        blocks.add((frame.buffers.at(-1) as Buffer).buffer);
        at += frame.length;
      }
      // Acknowledgements free the window in pieces, never all of it.
      buffer.acknowledge(buffer.acked + Math.floor(buffer.held * 0.6));
    }
    expect(blocks.size).toBeLessThanOrEqual(Math.ceil(WINDOW / BLOCK_BYTES) + 1);
    expect(buffer.allocated).toBeLessThanOrEqual(
      (Math.ceil(WINDOW / BLOCK_BYTES) + 1) * buffer.blockAllocation,
    );
  });

  it("sends a frame that starts a block in one buffer, and a resend from mid-frame as header and payload", () => {
    const buffer = new SendBuffer(WINDOW);
    buffer.append(Buffer.alloc(BLOCK_BYTES + 100, 1));
    expect(buffer.frame(0).buffers).toHaveLength(1);
    expect(buffer.frame(BLOCK_BYTES).buffers).toHaveLength(1);
    expect(buffer.frame(10).buffers).toHaveLength(2);
    expect(buffer.frame(10).length).toBe(BLOCK_BYTES - 10);
  });

  it("starts a frame after one sent mid-block in that block, with room for its header, up to HEADER_ROOMS_PER_BLOCK", () => {
    const buffer = new SendBuffer(WINDOW);
    const sent: Buffer[][] = [];
    for (let i = 0; i < HEADER_ROOMS_PER_BLOCK + 1; i++) {
      buffer.append(Buffer.alloc(100, i));
      expect(buffer.growing(100 * i)).toBe(true);
      sent.push(buffer.frame(100 * i).buffers);
      // Sent: what follows is a frame of its own.
      expect(buffer.growing(100 * i)).toBe(false);
    }
    expect(buffer.allocated).toBe(buffer.blockAllocation);
    const lengths = sent.map((buffers) => buffers.map((b) => b.length));
    expect(lengths).toEqual([
      ...Array.from({ length: HEADER_ROOMS_PER_BLOCK }, () => [DATA_HEADER_BYTES + 100]),
      [DATA_HEADER_BYTES, 100],
    ]);
    for (const buffers of sent)
      expect((buffers.at(-1) as Buffer).buffer).toBe((sent[0]?.[0] as Buffer).buffer);
    for (let i = 0; i < HEADER_ROOMS_PER_BLOCK + 1; i++) {
      expect(payloadAt(buffer, 100 * i).equals(Buffer.alloc(100, i))).toBe(true);
    }
  });

  it("spends no block on the headers of a run of tiny frames", () => {
    const buffer = new SendBuffer(WINDOW);
    for (let i = 0; i < 10_000; i++) {
      buffer.append(Buffer.alloc(1, i));
      buffer.frame(i);
    }
    expect(buffer.allocated).toBe(buffer.blockAllocation);
    expect(payloadAt(buffer, 9_999)[0]).toBe(9_999 & 0xff);
  });

  it("keeps a block until the last frame in it is acknowledged", () => {
    const buffer = new SendBuffer(WINDOW);
    buffer.append(Buffer.alloc(1000, 1));
    buffer.frame(0);
    buffer.append(Buffer.alloc(1000, 2));
    buffer.acknowledge(1000);
    buffer.frame(1000);
    // Into a second block: the first one still holds the 1000 bytes, and must not be reused.
    buffer.append(Buffer.alloc(BLOCK_BYTES, 3));
    expect(buffer.allocated).toBe(2 * buffer.blockAllocation);
    expect(payloadAt(buffer, 1000).equals(Buffer.alloc(1000, 2))).toBe(true);
  });

  it("with keepWrites, keeps a long write as it is, without a copy, in frames of at most MAX_DATA_FRAME_BYTES", () => {
    const buffer = new SendBuffer(4 * MAX_DATA_FRAME_BYTES, { keepWrites: true });
    const chunk = Buffer.alloc(MAX_DATA_FRAME_BYTES + 100, 1);
    expect(buffer.append(chunk)).toBe(chunk.length);
    expect(buffer.allocated).toBe(0);
    chunk[5] = 9;
    expect(payloadAt(buffer, 0)[5]).toBe(9);
    expect(buffer.growing(0)).toBe(false);
    expect(buffer.frame(0).length).toBe(MAX_DATA_FRAME_BYTES);
    expect(buffer.frame(MAX_DATA_FRAME_BYTES).length).toBe(100);
  });

  it("with keepWrites, still copies a short write, and a kept one ends the block before it", () => {
    const buffer = new SendBuffer(4 * ZERO_COPY_MIN_BYTES, { keepWrites: true });
    const short = Buffer.alloc(1000, 2);
    buffer.append(short);
    short.fill(0);
    expect(buffer.growing(0)).toBe(true);
    buffer.append(Buffer.alloc(ZERO_COPY_MIN_BYTES, 3));
    // No later write can join the first block now: it goes out at once.
    expect(buffer.growing(0)).toBe(false);
    expect(payloadAt(buffer, 0).equals(Buffer.alloc(1000, 2))).toBe(true);
    buffer.append(Buffer.alloc(10, 4));
    expect(buffer.allocated).toBe(2 * buffer.blockAllocation);
    expect(payloadAt(buffer, 1000 + ZERO_COPY_MIN_BYTES).equals(Buffer.alloc(10, 4))).toBe(true);
  });

  it("without keepWrites, copies a long write too", () => {
    const buffer = new SendBuffer(4 * ZERO_COPY_MIN_BYTES);
    const chunk = Buffer.alloc(ZERO_COPY_MIN_BYTES, 1);
    buffer.append(chunk);
    chunk.fill(0);
    expect(payloadAt(buffer, 0)[0]).toBe(1);
    expect(buffer.allocated).toBeGreaterThan(0);
  });

  it("gives back exactly the bytes appended, from any offset still held, sent in frames or not", () => {
    const pattern = Buffer.from(Array.from({ length: 251 }, (_, i) => i));
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            // Relative to a block: tiny writes (frames of a few bytes) as well as long ones.
            length: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.double({ min: 0.001, max: 3, noNaN: true })),
            seed: fc.nat(250),
            send: fc.boolean(),
          }),
          { maxLength: 16 },
        ),
        fc.array(fc.nat(), { maxLength: 16 }),
        fc.constantFrom(WINDOW, 4 * MAX_BLOCK_ALLOCATION),
        fc.boolean(),
        fc.nat(),
        (chunks, acks, window, keepWrites, resendFrom) => {
          const buffer = new SendBuffer(window, { keepWrites });
          const taken: Uint8Array[] = [];
          let sent = 0;
          chunks.forEach(({ length, seed, send }, i) => {
            const bytes = Number.isInteger(length) ? length : Math.ceil(length * buffer.blockBytes);
            // A repeating pattern of prime length, so a byte out of place shows.
            const chunk = Buffer.alloc(bytes, pattern.subarray(seed));
            const n = buffer.append(chunk);
            taken.push(chunk.subarray(0, n));
            const ack = acks[i];
            if (ack !== undefined) buffer.acknowledge(buffer.acked + (ack % (buffer.held + 1)));
            // What is sent is sealed: later writes start frames of their own.
            for (sent = Math.max(sent, buffer.acked); send && sent < buffer.end; )
              sent += buffer.frame(sent).length;
            expect(buffer.held).toBeLessThanOrEqual(window);
            // Partly used blocks at both ends, and one kept for reuse.
            expect(buffer.allocated).toBeLessThanOrEqual(window + 3 * buffer.blockAllocation);
          });
          const all = Buffer.concat(taken);
          expect(buffer.end).toBe(all.length);
          // A resend from what the peer acknowledged, or from anywhere a resume says (mid-frame).
          const starts = [buffer.acked, buffer.acked + (resendFrom % (buffer.held + 1))];
          for (const start of starts) {
            for (let at = start; at < buffer.end; ) {
              const payload = payloadAt(buffer, at);
              expect(payload.length).toBeGreaterThan(0);
              expect(Buffer.compare(payload, all.subarray(at, at + payload.length))).toBe(0);
              at += payload.length;
            }
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses offsets outside what it holds", () => {
    const buffer = new SendBuffer(WINDOW);
    buffer.append(Buffer.alloc(10));
    buffer.acknowledge(5);
    expect(() => buffer.acknowledge(4)).toThrow(RangeError);
    expect(() => buffer.acknowledge(11)).toThrow(RangeError);
    expect(() => buffer.frame(4)).toThrow(RangeError);
    expect(() => buffer.frame(10)).toThrow(RangeError);
  });
});
