import type { ControlFrame } from "./control-frames.ts";
import {
  badFrame,
  CONTROL_HEADER_BYTES,
  FRAME_ABORT,
  FRAME_OPEN,
  FRAME_RESUME,
  MAX_CONTROL_FRAME_BYTES,
  parseControlBody,
} from "./control-frames.ts";

/**
 * SDK wire version 2: the framing inside the end-to-end TLS (docs/stream.md). Every frame
 * starts with a type byte, then a fixed header for that type:
 *
 *   DATA   0x01  offset u64, length u32 (1..MAX_DATA_FRAME_BYTES), then `length` bytes
 *   END    0x02  total u64: the bytes this direction carried, its last frame
 *   ACK    0x03  received u64 (cumulative), flags u8 (0x01: the END was received)
 *   OPEN   0x04  length u16, then a JSON body (first frame of a new session)
 *   RESUME 0x05  length u16, then a JSON body (first frame of a resumed session)
 *   ABORT  0x06  length u16, then a JSON body (the sender gives the stream up with an error)
 *   CLOSE  0x07  nothing more: the sender has all the peer's bytes and END, and the peer
 *                acknowledged all of its own; the last frame of a session
 *
 * Integers are big-endian; a u64 must be a safe JavaScript integer (below 2^53). The relay
 * can neither read nor forge any of this: it all travels inside the end-to-end TLS.
 */
export const STREAM_ALPN = "flock/2";

export const FRAME_DATA = 0x01;
export const FRAME_END = 0x02;
export const FRAME_ACK = 0x03;
export const FRAME_CLOSE = 0x07;

/**
 * Largest DATA payload a receiver accepts. Receivers pass payloads on as they arrive, so the
 * size costs them no memory; senders write frames of up to a quarter window (send-buffer.ts)
 * because one large write costs the kernel far less than many small ones.
 */
export const MAX_DATA_FRAME_BYTES = 1024 * 1024;

export const DATA_HEADER_BYTES = 13;
const END_FRAME_BYTES = 9;
const ACK_FRAME_BYTES = 10;
const CLOSE_FRAME_BYTES = 1;
const TWO_32 = 2 ** 32;
const ACK_END_RECEIVED = 0x01;

/** What the parser hands out, frame by frame; DATA payloads arrive in pieces, without a copy. */
export interface StreamFrameHandler {
  /** A piece of a DATA frame's payload; `offset` is the stream offset of its first byte. */
  data(offset: number, bytes: Buffer): void;
  end(total: number): void;
  ack(received: number, endReceived: boolean): void;
  control(frame: ControlFrame): void;
  close(): void;
}

function writeU64(out: Buffer, at: number, value: number): void {
  out.writeUInt32BE(Math.floor(value / TWO_32), at);
  out.writeUInt32BE(value >>> 0, at + 4);
}

function readU64(from: Buffer, at: number, what: string): number {
  const high = from.readUInt32BE(at);
  // 2^21 * 2^32 = 2^53: anything at or above it is not a safe integer.
  if (high >= 2 ** 21) throw badFrame(`${what} is 2^53 or more`);
  return high * TWO_32 + from.readUInt32BE(at + 4);
}

/** Writes a DATA header into `out` at `at`: in place, in front of a payload already there. */
export function writeDataHeader(out: Buffer, offset: number, length: number, at = 0): void {
  out[at] = FRAME_DATA;
  writeU64(out, at + 1, offset);
  out.writeUInt32BE(length, at + 9);
}

export function encodeDataHeader(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(DATA_HEADER_BYTES);
  writeDataHeader(out, offset, length);
  return out;
}

export function encodeEnd(total: number): Buffer {
  const out = Buffer.allocUnsafe(END_FRAME_BYTES);
  out[0] = FRAME_END;
  writeU64(out, 1, total);
  return out;
}

export function encodeAck(received: number, endReceived: boolean): Buffer {
  const out = Buffer.allocUnsafe(ACK_FRAME_BYTES);
  out[0] = FRAME_ACK;
  writeU64(out, 1, received);
  out[9] = endReceived ? ACK_END_RECEIVED : 0;
  return out;
}

export function encodeClose(): Buffer {
  return Buffer.from([FRAME_CLOSE]);
}

/** Bytes of the fixed header for a type byte, or undefined for an unknown type. */
function headerBytes(type: number): number | undefined {
  switch (type) {
    case FRAME_DATA:
      return DATA_HEADER_BYTES;
    case FRAME_END:
      return END_FRAME_BYTES;
    case FRAME_ACK:
      return ACK_FRAME_BYTES;
    case FRAME_CLOSE:
      return CLOSE_FRAME_BYTES;
    case FRAME_OPEN:
    case FRAME_RESUME:
    case FRAME_ABORT:
      return CONTROL_HEADER_BYTES;
    default:
      return undefined;
  }
}

/**
 * Incremental parser. Headers are gathered across chunks (at most 13 bytes); DATA payloads
 * are handed on as views of the incoming chunks as they arrive, so a payload is never
 * buffered whole; control bodies are buffered, and their length is checked against the cap
 * before a byte of the body is kept. Any violation throws BAD_STREAM_FRAME.
 */
export class StreamFrameParser {
  readonly #handler: StreamFrameHandler;
  readonly #header = Buffer.alloc(DATA_HEADER_BYTES);
  #headerHave = 0;
  #headerNeed = 0;
  /** DATA payload still to come, and the stream offset of its next byte. */
  #payloadLeft = 0;
  #payloadOffset = 0;
  /** A control frame's body being gathered. */
  #body: Buffer | undefined;
  #bodyHave = 0;
  #stopped = false;

  constructor(handler: StreamFrameHandler) {
    this.#handler = handler;
  }

  /** True between the first and the last byte of a frame: a transport end here cut a frame. */
  get midFrame(): boolean {
    return this.#headerHave > 0 || this.#payloadLeft > 0 || this.#body !== undefined;
  }

  /** Makes `push` return at once, before the next frame (the handler asks for it). */
  stop(): void {
    this.#stopped = true;
  }

  /** Parses `chunk`; answers how many of its bytes were consumed (all, unless stopped). */
  push(chunk: Buffer): number {
    let at = 0;
    while (at < chunk.length && !this.#stopped) {
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, chunk.length - at);
        const offset = this.#payloadOffset;
        this.#payloadLeft -= take;
        this.#payloadOffset += take;
        // A chunk that is all payload (most of a bulk transfer) goes on as it is, without a view.
        this.#handler.data(offset, take === chunk.length ? chunk : chunk.subarray(at, at + take));
        at += take;
      } else if (this.#body !== undefined) {
        const take = Math.min(this.#body.length - this.#bodyHave, chunk.length - at);
        chunk.copy(this.#body, this.#bodyHave, at, at + take);
        this.#bodyHave += take;
        at += take;
        if (this.#bodyHave === this.#body.length) {
          const body = this.#body;
          this.#body = undefined;
          this.#handler.control(parseControlBody(this.#header[0] as number, body));
        }
      } else {
        at = this.#gatherHeader(chunk, at);
      }
    }
    return at;
  }

  #gatherHeader(chunk: Buffer, at: number): number {
    if (this.#headerHave === 0) {
      const need = headerBytes(chunk[at] as number);
      if (need === undefined) throw badFrame(`unknown frame type 0x${(chunk[at] as number).toString(16)}`);
      this.#headerNeed = need;
    }
    const take = Math.min(this.#headerNeed - this.#headerHave, chunk.length - at);
    chunk.copy(this.#header, this.#headerHave, at, at + take);
    this.#headerHave += take;
    if (this.#headerHave === this.#headerNeed) {
      this.#headerHave = 0;
      this.#onHeader();
    }
    return at + take;
  }

  #onHeader(): void {
    const h = this.#header;
    switch (h[0]) {
      case FRAME_DATA: {
        const length = h.readUInt32BE(9);
        if (length === 0 || length > MAX_DATA_FRAME_BYTES) {
          throw badFrame(`a DATA frame of ${length} bytes (1 to ${MAX_DATA_FRAME_BYTES} allowed)`);
        }
        this.#payloadOffset = readU64(h, 1, "a DATA offset");
        this.#payloadLeft = length;
        return;
      }
      case FRAME_END:
        this.#handler.end(readU64(h, 1, "an END total"));
        return;
      case FRAME_ACK: {
        const flags = h[9] as number;
        if ((flags & ~ACK_END_RECEIVED) !== 0) throw badFrame(`ACK flags 0x${flags.toString(16)}`);
        this.#handler.ack(readU64(h, 1, "an ACK offset"), flags === ACK_END_RECEIVED);
        return;
      }
      case FRAME_CLOSE:
        this.#handler.close();
        return;
      default: {
        const length = h.readUInt16BE(1);
        if (length === 0 || length > MAX_CONTROL_FRAME_BYTES) {
          throw badFrame(`a control frame of ${length} bytes (1 to ${MAX_CONTROL_FRAME_BYTES} allowed)`);
        }
        this.#body = Buffer.allocUnsafe(length);
        this.#bodyHave = 0;
      }
    }
  }
}
