import { FlockError } from "../../protocol/errors.ts";

/**
 * The control frames of wire version 2 (OPEN, RESUME, ABORT): a type byte, a u16 length and a
 * UTF-8 JSON object with exactly the fields below (docs/stream.md, "Wire format"). The other
 * frames and the parser are in frames.ts.
 */
export const FRAME_OPEN = 0x04;
export const FRAME_RESUME = 0x05;
export const FRAME_ABORT = 0x06;
export const CONTROL_HEADER_BYTES = 3;
/** Largest OPEN, RESUME or ABORT body: names, numbers and one sentence fit many times over. */
export const MAX_CONTROL_FRAME_BYTES = 2 * 1024;
/** ABORT messages are cut to this many characters so the frame always fits. */
export const MAX_ABORT_MESSAGE_CHARS = 512;
/** Each side's acknowledgement window must lie in this range (bytes). */
export const MIN_WINDOW_BYTES = 64 * 1024;
export const MAX_WINDOW_BYTES = 1024 * 1024 * 1024;

export function badFrame(detail: string): FlockError {
  return new FlockError("BAD_STREAM_FRAME", `Bad stream frame from the peer: ${detail}.`);
}

/** First frame of a new session: what this side believes it is connected to. */
export interface OpenFrame {
  type: "open";
  /** Pair id as this side computed it from the user, both parties and the channel. */
  pair: string;
  channel: string;
  /** `user/party` of the sender, and of the party it means to reach. */
  from: string;
  to: string;
  /** The sender's acknowledgement window: the receiver acknowledges well before it fills. */
  window: number;
  /** The sender reconnects when a transport breaks; a session resumes only if both do. */
  resume: boolean;
}

/** First frame of a resumed session. */
export interface ResumeFrame {
  type: "resume";
  /** base64url HMAC proving the sender holds the first handshake's secret (session-keys.ts). */
  proof: string;
  /** Bytes the sender has received from the peer, in order; the peer resends from here. */
  received: number;
  endReceived: boolean;
  window: number;
}

export interface AbortFrame {
  type: "abort";
  code: string;
  message: string;
}

export type ControlFrame = OpenFrame | ResumeFrame | AbortFrame;

const CONTROL_TYPES = { open: FRAME_OPEN, resume: FRAME_RESUME, abort: FRAME_ABORT } as const;

export function encodeControl(frame: ControlFrame): Buffer {
  const { type, ...fields } = frame;
  if (frame.type === "abort")
    (fields as { message: string }).message = frame.message.slice(0, MAX_ABORT_MESSAGE_CHARS);
  const body = Buffer.from(JSON.stringify(fields), "utf8");
  if (body.length > MAX_CONTROL_FRAME_BYTES) {
    throw new FlockError(
      "INTERNAL",
      `A ${type} frame of ${body.length} bytes exceeds MAX_CONTROL_FRAME_BYTES.`,
    );
  }
  const out = Buffer.allocUnsafe(CONTROL_HEADER_BYTES + body.length);
  out[0] = CONTROL_TYPES[type];
  out.writeUInt16BE(body.length, 1);
  body.copy(out, CONTROL_HEADER_BYTES);
  return out;
}

/** Parses a control frame's body (its length already checked against MAX_CONTROL_FRAME_BYTES). */
const isString = (value: unknown, max: number): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= max;
const isOffset = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isWindow = (value: unknown): value is number =>
  Number.isSafeInteger(value) &&
  (value as number) >= MIN_WINDOW_BYTES &&
  (value as number) <= MAX_WINDOW_BYTES;

/** Exactly these keys, no more: an unknown field is a peer this version does not understand. */
function hasKeys(value: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(value, k));
}

export function parseControlBody(type: number, body: Buffer): ControlFrame {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw badFrame("a control frame body that is not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badFrame("a control frame body that is not a JSON object");
  }
  const v = value as Record<string, unknown>;
  switch (type) {
    case FRAME_OPEN:
      if (
        hasKeys(v, ["pair", "channel", "from", "to", "window", "resume"]) &&
        isString(v.pair, 128) &&
        isString(v.channel, 64) &&
        isString(v.from, 129) &&
        isString(v.to, 129) &&
        isWindow(v.window) &&
        typeof v.resume === "boolean"
      ) {
        return {
          type: "open",
          pair: v.pair,
          channel: v.channel,
          from: v.from,
          to: v.to,
          window: v.window,
          resume: v.resume,
        };
      }
      throw badFrame("an OPEN frame of the wrong shape");
    case FRAME_RESUME:
      if (
        hasKeys(v, ["proof", "received", "endReceived", "window"]) &&
        isString(v.proof, 64) &&
        isOffset(v.received) &&
        typeof v.endReceived === "boolean" &&
        isWindow(v.window)
      ) {
        return {
          type: "resume",
          proof: v.proof,
          received: v.received,
          endReceived: v.endReceived,
          window: v.window,
        };
      }
      throw badFrame("a RESUME frame of the wrong shape");
    default:
      if (
        hasKeys(v, ["code", "message"]) &&
        isString(v.code, 64) &&
        typeof v.message === "string" &&
        v.message.length <= MAX_ABORT_MESSAGE_CHARS
      ) {
        return { type: "abort", code: v.code, message: v.message };
      }
      throw badFrame("an ABORT frame of the wrong shape");
  }
}
