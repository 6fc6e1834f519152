import { DATA_HEADER_BYTES, encodeDataHeader, MAX_DATA_FRAME_BYTES, writeDataHeader } from "./frames.ts";

/**
 * One direction's bytes that the application wrote and the peer has not acknowledged yet:
 * what a resumed session sends again. It never holds more than `window` bytes; a writer
 * that finds it full waits for acknowledgements, which is the application's backpressure.
 *
 * By default the bytes are copied in: a caller may reuse a buffer once its write callback
 * ran, and these bytes must stay intact until the peer acknowledges them, which can be a
 * resume later. They go into blocks laid out as on the wire: each frame's payload has room
 * for its DATA header just before it, so a frame leaves as one contiguous write (no gathered
 * write, which TLS copies, and no 13-byte record of its own). A frame sent while its block
 * still has room is sealed; the next write's bytes start a frame of their own in that block,
 * after room for its header (docs/stream.md, "Send buffer layout"). A block is a quarter
 * window (MIN_BLOCK_ALLOCATION to MAX_BLOCK_ALLOCATION, a power of two): the write syscalls of
 * 64 KiB frames cost the sender four times those of raw 1 MiB writes. Acknowledged blocks are
 * reused, up to as many as a full window spans, so a busy stream allocates none after its
 * first window (a fresh allocation per frame cost five times the copy, and each new block
 * is a page fault per 4 KiB); they are let go of once nothing is held.
 *
 * With `keepWrites` (the stream's `zeroCopyWrites`), a write of ZERO_COPY_MIN_BYTES or more is
 * kept as it is instead, in frames of its own: no copy, and the writer promises not to modify
 * the buffer (docs/stream.md, "Zero-copy writes").
 */
export const MIN_BLOCK_ALLOCATION = 64 * 1024;
export const MAX_BLOCK_ALLOCATION = MAX_DATA_FRAME_BYTES;

/**
 * A frame whose header is not in front of its payload in memory (a kept write, a resend from
 * mid-frame, a frame past its block's HEADER_ROOMS_PER_BLOCK) leaves as two writes, header
 * then payload, once the payload is this long: TLS copies the parts of a gathered write into
 * one buffer, which costs more than the extra 13-byte record (and syscall) of a header
 * written alone.
 */
export const OWN_WRITE_MIN_BYTES = 64 * 1024;

/**
 * A block leaves room for at most this many frame headers, its first frame's included; the
 * frames after those in the block get their header apart. Room after every frame would let a
 * run of tiny frames (one per event-loop turn) spend more of a block on headers than on
 * bytes, and a full window would then span more blocks than counted; this way headers take
 * at most 208 bytes of a block.
 */
export const HEADER_ROOMS_PER_BLOCK = 16;

/**
 * With `keepWrites`, writes at least this long are kept rather than copied. A kept write
 * leaves as frames of its own, each header a write of its own; below this, those extra writes
 * cost more than the copy into a block that leaves as one write of up to 1 MiB (measured: 64
 * and 128 KiB writes cost more CPU kept than copied, 256 KiB and 1 MiB less).
 */
export const ZERO_COPY_MIN_BYTES = 256 * 1024;

/** The payload of one DATA frame (a resend from mid-frame sends part of it). */
interface Segment {
  /** Stream offset of the segment's first payload byte. */
  start: number;
  /** A block of ours (frames, each with room for its header before it), or the writer's own buffer. */
  bytes: Buffer;
  /** Index in `bytes` of the first payload byte. */
  at: number;
  used: number;
  /** In a block: it is reused once its last segment is acknowledged. */
  block: boolean;
  /** The DATA_HEADER_BYTES before `at` are this segment's to write its header into. */
  headerRoom: boolean;
  /** Header rooms in this segment's block so far, this one's included. */
  rooms: number;
  /** Sent (or a kept write): later writes start a segment of their own. */
  sealed: boolean;
}

/** A DATA frame ready to write: one buffer (header and payload), or the header then the payload. */
export interface OutgoingFrame {
  buffers: Buffer[];
  length: number;
}

export class SendBuffer {
  readonly window: number;
  /** Bytes of one block: header and payload of a full DATA frame, a multiple of 16 KiB (whole TLS records). */
  readonly blockAllocation: number;
  /** Payload bytes of a block that holds one frame. */
  readonly blockBytes: number;
  readonly #keepWrites: boolean;
  readonly #segments: Segment[] = [];
  readonly #free: Buffer[] = [];
  /** Blocks among the segments. */
  #blocks = 0;
  /** Blocks a full window spans (part-filled ones at both ends): held and free ones together stay within. */
  readonly #maxBlocks: number;
  #acked = 0;
  #end = 0;

  constructor(window: number, options: { keepWrites?: boolean } = {}) {
    this.window = window;
    const quarter = 2 ** Math.floor(Math.log2(window / 4));
    this.blockAllocation = Math.min(MAX_BLOCK_ALLOCATION, Math.max(MIN_BLOCK_ALLOCATION, quarter));
    this.blockBytes = this.blockAllocation - DATA_HEADER_BYTES;
    const fewestBytes = this.blockAllocation - HEADER_ROOMS_PER_BLOCK * DATA_HEADER_BYTES;
    this.#maxBlocks = Math.ceil(window / fewestBytes) + 1;
    this.#keepWrites = options.keepWrites ?? false;
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

  /**
   * Bytes of blocks allocated, held or waiting for reuse: at most what a full window spans,
   * the window and two blocks. Writes kept by `keepWrites` are the writer's memory, not counted.
   */
  get allocated(): number {
    return (this.#blocks + this.#free.length) * this.blockAllocation;
  }

  /** Takes as much of `chunk` as the window has room for (kept or copied); answers how many bytes. */
  append(chunk: Buffer): number {
    const take = Math.min(chunk.length, this.room);
    if (this.#keepWrites && take >= ZERO_COPY_MIN_BYTES) {
      const bytes = take === chunk.length ? chunk : chunk.subarray(0, take);
      this.#segments.push({
        start: this.#end,
        bytes,
        at: 0,
        used: take,
        block: false,
        headerRoom: false,
        rooms: 0,
        sealed: true,
      });
      this.#end += take;
      return take;
    }
    let copied = 0;
    while (copied < take) {
      const last = this.#openSegment();
      const n = Math.min(take - copied, last.bytes.length - last.at - last.used);
      // A view costs more than the copy of a small write: none when all of `chunk` fits.
      last.bytes.set(n === chunk.length ? chunk : chunk.subarray(copied, copied + n), last.at + last.used);
      last.used += n;
      copied += n;
      this.#end += n;
    }
    return take;
  }

  /** The segment the next copied byte goes into: the last one if it can grow, else one after it. */
  #openSegment(): Segment {
    const last = this.#segments.at(-1);
    if (last?.block) {
      const after = last.at + last.used;
      if (!last.sealed && after < last.bytes.length) return last;
      const headerRoom = last.rooms < HEADER_ROOMS_PER_BLOCK;
      const at = after + (headerRoom ? DATA_HEADER_BYTES : 0);
      if (last.sealed && at < last.bytes.length) {
        return this.#push(last.bytes, at, headerRoom, last.rooms + (headerRoom ? 1 : 0));
      }
    }
    this.#blocks++;
    const bytes = this.#free.pop() ?? Buffer.allocUnsafe(this.blockAllocation);
    return this.#push(bytes, DATA_HEADER_BYTES, true, 1);
  }

  #push(bytes: Buffer, at: number, headerRoom: boolean, rooms: number): Segment {
    // Built in Segment's order, as a kept write's is: one object shape on the send path.
    const segment = { start: this.#end, bytes, at, used: 0, block: true, headerRoom, rooms, sealed: false };
    this.#segments.push(segment);
    return segment;
  }

  /** The peer has everything before `offset`: drop it. `offset` lies in [acked, end]. */
  acknowledge(offset: number): void {
    if (offset < this.#acked || offset > this.#end) {
      throw new RangeError(`acknowledge(${offset}) outside [${this.#acked}, ${this.#end}]`);
    }
    this.#acked = offset;
    let drop = 0;
    for (const segment of this.#segments) {
      if (segment.start + segment.used > offset) break;
      drop++;
    }
    // A segment partly acknowledged stays whole until its last byte is; a block goes once its
    // last segment does; an idle stream holds none.
    const dropped = this.#segments.splice(0, drop);
    dropped.forEach((segment, i) => {
      if (!segment.block || (dropped[i + 1] ?? this.#segments[0])?.bytes === segment.bytes) return;
      this.#blocks--;
      if (this.#blocks + this.#free.length < this.#maxBlocks) this.#free.push(segment.bytes);
    });
    if (this.held === 0) this.#free.length = 0;
  }

  /**
   * Whether the frame from `offset` could still grow: it is in the last block, which has room,
   * and has not been sent. Such a frame is worth holding back while writes may follow.
   */
  growing(offset: number): boolean {
    const last = this.#segments.at(-1);
    return (
      last?.block === true && !last.sealed && offset >= last.start && last.at + last.used < last.bytes.length
    );
  }

  /**
   * The DATA frame that sends held bytes from `offset` on, as far as its segment goes (at most
   * MAX_DATA_FRAME_BYTES), and seals that segment: later writes go into a frame of their own.
   * One buffer when it starts a segment with room for its header, else header and payload.
   */
  frame(offset: number): OutgoingFrame {
    if (offset < this.#acked || offset >= this.#end) {
      throw new RangeError(`frame(${offset}) outside [${this.#acked}, ${this.#end})`);
    }
    const segment = this.#segmentAt(offset);
    segment.sealed = true;
    const from = offset - segment.start;
    const length = Math.min(segment.used - from, MAX_DATA_FRAME_BYTES);
    if (segment.headerRoom && from === 0) {
      const header = segment.at - DATA_HEADER_BYTES;
      writeDataHeader(segment.bytes, offset, length, header);
      return { buffers: [segment.bytes.subarray(header, segment.at + length)], length };
    }
    const payload = segment.bytes.subarray(segment.at + from, segment.at + from + length);
    return { buffers: [encodeDataHeader(offset, length), payload], length };
  }

  /** Binary search: the one segment whose bytes cover `offset`. */
  #segmentAt(offset: number): Segment {
    let lo = 0;
    let hi = this.#segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#segments[mid] as Segment).start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.#segments[lo] as Segment;
  }
}
