import { ByteQueue } from "./byte-queue.ts";
import type { ErrorCode } from "./errors.ts";
import { FlockError } from "./errors.ts";
import type { Role } from "./ticket.ts";

/**
 * The handshake on every transport (TCP, TLS, WebSocket-as-stream):
 *
 *   client → relay   MAGIC ("FLK1")
 *   relay  → client  frame {type:"challenge", version, relay, nonce}
 *   client → relay   frame {type:"hello", ...}          (ticket mode or direct mode)
 *   relay  → client  frame {type:"waiting"}?  then  {type:"paired", ...} | {type:"error", ...}
 *   ...then raw spliced bytes both ways.
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
 */
export const PROTOCOL_VERSION = 1;
export const MAGIC = new Uint8Array([0x46, 0x4c, 0x4b, 0x31]); // "FLK1"
/** WebSocket subprotocol: carries the version, never the ticket. */
export const WS_SUBPROTOCOL = "flock.v1";
/** Largest handshake frame either side accepts (a ticket plus an RSA-4096 certificate fit). */
export const MAX_FRAME_BYTES = 16 * 1024;
export const FRAME_HEADER_BYTES = 4;

export interface ChallengeFrame {
  type: "challenge";
  version: number;
  relay: string;
  /** base64url, 32 random bytes, fresh per connection. */
  nonce: string;
}

/** Ticket mode. On TLS the client certificate is the proof; elsewhere `cert` + `sig`. */
export interface TicketHelloFrame {
  type: "hello";
  ticket: string;
  /** base64 (standard) DER of the party's relay certificate. */
  cert?: string;
  /** base64url signature over helloProofInput(nonce, ticket) with the relay key. */
  sig?: string;
  /**
   * The party resumes a broken stream on its own (SDK wire version 2, docs/stream.md): a
   * draining data plane may reset a pair whose two sides say so, and they move elsewhere.
   */
  resumable?: boolean;
}

/** Seed-compatible direct mode: no ticket, the relay certificate names the party. */
export interface DirectHelloFrame {
  type: "direct";
  dest: string;
  tag: string;
  cert?: string;
  sig?: string;
  resumable?: boolean;
}

export interface WaitingFrame {
  type: "waiting";
}

/**
 * What the peer of a direct-mode pair speaks end to end, when it is not Flock's SDK:
 * "frelay" is a client of the original Flock relay, which runs plain TLS over the raw
 * bytes (no verdict byte, no stream framing).
 */
export type PeerProtocol = "flock" | "frelay";

export interface PairedFrame {
  type: "paired";
  /** `user/party` of the peer. */
  peer: string;
  role: Role;
  pair: string;
  /** Present only when the peer is no Flock SDK (absent means "flock"). */
  peerProtocol?: Exclude<PeerProtocol, "flock">;
}

export interface ErrorFrame {
  type: "error";
  code: ErrorCode;
  message: string;
}

export type ClientFrame = TicketHelloFrame | DirectHelloFrame;
export type RelayFrame = ChallengeFrame | WaitingFrame | PairedFrame | ErrorFrame;
export type Frame = ClientFrame | RelayFrame;

/**
 * The bytes a party signs to prove it holds its relay key: bound to this connection's
 * nonce and to this ticket (or direct request), so a captured proof is useless elsewhere.
 */
export function helloProofInput(nonce: string, binding: string): Uint8Array {
  return new TextEncoder().encode(`flock-hello-v1\n${nonce}\n${binding}`);
}

export function encodeFrame(frame: Frame): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(frame));
  if (body.length > MAX_FRAME_BYTES) throw new FlockError("HELLO_TOO_LARGE");
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Incremental decoder: feed chunks, take whole frames out. It checks the declared
 * length against the cap before buffering the body, so an attacker cannot make the
 * relay hold more than MAX_FRAME_BYTES for one connection. Chunks are kept as they came
 * and a frame is copied once, when whole, so a hello sent byte by byte costs linear work.
 */
export class FrameDecoder {
  readonly #queue = new ByteQueue();
  /** The next frame's declared body length, once its header is in. */
  #declared: number | undefined;

  push(chunk: Uint8Array): void {
    this.#queue.push(chunk);
    this.#declaredLength();
  }

  /** The next whole frame as parsed JSON, or undefined if more bytes are needed. */
  next(): unknown {
    const length = this.#declaredLength();
    if (length === undefined || this.#queue.length < FRAME_HEADER_BYTES + length) return undefined;
    const body = this.#queue.take(FRAME_HEADER_BYTES + length).subarray(FRAME_HEADER_BYTES);
    this.#declared = undefined;
    try {
      return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(body));
    } catch {
      throw new FlockError("BAD_FRAME");
    }
  }

  /** Bytes received after the last whole frame (e.g. the peer's first spliced bytes). */
  rest(): Uint8Array {
    this.#declared = undefined;
    return this.#queue.take(this.#queue.length);
  }

  #declaredLength(): number | undefined {
    if (this.#declared === undefined && this.#queue.length >= FRAME_HEADER_BYTES) {
      let length = 0;
      for (let i = 0; i < FRAME_HEADER_BYTES; i++) length = length * 256 + this.#queue.byteAt(i);
      if (length > MAX_FRAME_BYTES) throw new FlockError("HELLO_TOO_LARGE");
      this.#declared = length;
    }
    return this.#declared;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const optionalString = (v: unknown) => v === undefined || typeof v === "string";
const optionalBoolean = (v: unknown) => v === undefined || typeof v === "boolean";

/** Validates the shape of a client's hello; anything else is BAD_FRAME. */
export function parseClientFrame(value: unknown): ClientFrame {
  if (isObject(value)) {
    if (
      value.type === "hello" &&
      typeof value.ticket === "string" &&
      optionalString(value.cert) &&
      optionalString(value.sig) &&
      optionalBoolean(value.resumable)
    ) {
      return value as unknown as TicketHelloFrame;
    }
    if (
      value.type === "direct" &&
      typeof value.dest === "string" &&
      typeof value.tag === "string" &&
      optionalString(value.cert) &&
      optionalString(value.sig) &&
      optionalBoolean(value.resumable)
    ) {
      return value as unknown as DirectHelloFrame;
    }
  }
  throw new FlockError("BAD_FRAME");
}

/** Validates the shape of a relay's frame; anything else is BAD_FRAME. */
export function parseRelayFrame(value: unknown): RelayFrame {
  if (isObject(value)) {
    switch (value.type) {
      case "challenge":
        if (
          typeof value.nonce === "string" &&
          typeof value.relay === "string" &&
          typeof value.version === "number"
        )
          return value as unknown as ChallengeFrame;
        break;
      case "waiting":
        return { type: "waiting" };
      case "paired":
        if (
          typeof value.peer === "string" &&
          (value.role === "client" || value.role === "server") &&
          typeof value.pair === "string" &&
          (value.peerProtocol === undefined || value.peerProtocol === "frelay")
        )
          return value as unknown as PairedFrame;
        break;
      case "error":
        if (typeof value.code === "string" && typeof value.message === "string")
          return value as unknown as ErrorFrame;
        break;
    }
  }
  throw new FlockError("BAD_FRAME");
}
