import { DATA_HEADER_BYTES, encodeDataHeader, MAX_DATA_FRAME_BYTES, writeDataHeader } from "./frames.ts";

/**
 * One direction's bytes that the application wrote and the peer has not acknowledged yet:
 * what a resumed session sends again. It never holds more than `window` bytes; a writer
 * that finds it full waits for acknowledgements, which is the application's backpressure.
 *
 * The bytes are copied in: a caller may reuse a buffer once its write callback ran, and
 * these bytes must stay intact until the peer acknowledges them, which can be a resume
 * later. They go into blocks of one DATA frame each, with room for the frame header in
 * front, so a frame that starts a block leaves in one write. A block is a quarter window
 * (MIN_BLOCK_ALLOCATION to MAX_BLOCK_ALLOCATION, a power of two): the write syscalls of 64
 * KiB frames cost the sender four times those of raw 1 MiB writes. Acknowledged blocks are
 * reused (a fresh allocation per frame cost five times the copy), and let go of once nothing
 * is held.
 */
export const MIN_BLOCK_ALLOCATION = 64 * 1024;
export const MAX_BLOCK_ALLOCATION = MAX_DATA_FRAME_BYTES;

interface Block {
  /** Stream offset of the block's first payload byte. */
  start: number;
  /** DATA_HEADER_BYTES of headroom, then up to blockBytes of payload. */
  bytes: Buffer;
  used: number;
}

export class SendBuffer {
  readonly window: number;
  /** Bytes of one block: header and payload of a full DATA frame, a multiple of 16 KiB (whole TLS records). */
  readonly blockAllocation: number;
  /** Payload bytes of a full block. */
  readonly blockBytes: number;
  readonly #blocks: Block[] = [];
  readonly #free: Buffer[] = [];
  /** Acknowledgements free about a quarter window at a time: that much waits for reuse. */
  readonly #maxFree: number;
  #acked = 0;
  #end = 0;

  constructor(window: number) {
    this.window = window;
    const quarter = 2 ** Math.floor(Math.log2(window / 4));
    this.blockAllocation = Math.min(MAX_BLOCK_ALLOCATION, Math.max(MIN_BLOCK_ALLOCATION, quarter));
    this.blockBytes = this.blockAllocation - DATA_HEADER_BYTES;
    this.#maxFree = Math.max(1, Math.floor(window / 4 / this.blockAllocation));
  }

  /** Stream offset of the first byte held: everything before it was acknowledged. */
  get acked(): number {
    return this.#acked;
  }

  /** Stream offset after the last byte written: the direction's byte count so far. */
  get end(): number {
    return this.#end;
  }

  get held(): number {
    return this.#end - this.#acked;
  }

  get room(): number {
    return this.window - this.held;
  }

  /** Bytes allocated, held or waiting for reuse: at most about the window and a quarter, plus a block. */
  get allocated(): number {
    return (this.#blocks.length + this.#free.length) * this.blockAllocation;
  }

  /** Copies as much of `chunk` as the window has room for; answers how many bytes it took. */
  append(chunk: Uint8Array): number {
    const take = Math.min(chunk.length, this.room);
    let copied = 0;
    while (copied < take) {
      let last = this.#blocks.at(-1);
      if (!last || last.used === this.blockBytes) {
        last = {
          start: this.#end,
          bytes: this.#free.pop() ?? Buffer.allocUnsafe(this.blockAllocation),
          used: 0,
        };
        this.#blocks.push(last);
      }
      const n = Math.min(take - copied, this.blockBytes - last.used);
      last.bytes.set(chunk.subarray(copied, copied + n), DATA_HEADER_BYTES + last.used);
      last.used += n;
      copied += n;
      this.#end += n;
    }
    return take;
  }

  /** The peer has everything before `offset`: drop it. `offset` lies in [acked, end]. */
  acknowledge(offset: number): void {
    if (offset < this.#acked || offset > this.#end) {
      throw new RangeError(`acknowledge(${offset}) outside [${this.#acked}, ${this.#end}]`);
    }
    this.#acked = offset;
    let drop = 0;
    for (const block of this.#blocks) {
      if (block.start + block.used > offset) break;
      drop++;
    }
    // A block partly acknowledged stays whole until its last byte is; an idle stream holds none.
    for (const block of this.#blocks.splice(0, drop)) {
      if (this.#free.length < this.#maxFree) this.#free.push(block.bytes);
    }
    if (this.held === 0) this.#free.length = 0;
  }

  /**
   * The DATA frame that sends held bytes from `offset` on, as far as its block goes, how many
   * bytes it carries, and whether its block is full (no later write can join it): one buffer
   * (the header in the block's headroom) when it starts the block, else header and payload.
   */
  frame(offset: number): { buffers: Buffer[]; length: number; blockFull: boolean } {
    if (offset < this.#acked || offset >= this.#end) {
      throw new RangeError(`frame(${offset}) outside [${this.#acked}, ${this.#end})`);
    }
    const block = this.#blockAt(offset);
    const from = offset - block.start;
    const length = block.used - from;
    const blockFull = block.used === this.blockBytes;
    if (from === 0) {
      writeDataHeader(block.bytes, offset, length);
      return { buffers: [block.bytes.subarray(0, DATA_HEADER_BYTES + length)], length, blockFull };
    }
    const payload = block.bytes.subarray(DATA_HEADER_BYTES + from, DATA_HEADER_BYTES + block.used);
    return { buffers: [encodeDataHeader(offset, length), payload], length, blockFull };
  }

  /** Binary search: the one block whose bytes cover `offset`. */
  #blockAt(offset: number): Block {
    let lo = 0;
    let hi = this.#blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#blocks[mid] as Block).start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.#blocks[lo] as Block;
  }
}
