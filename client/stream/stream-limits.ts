import { FlockError } from "../../protocol/errors.ts";
import { MAX_WINDOW_BYTES, MIN_WINDOW_BYTES } from "./control-frames.ts";

/**
 * A framed stream's bounds, and how it holds what it sends. Each is an option of `connect`
 * (ConnectOptions.stream), and each has a test proving it holds.
 */
export interface StreamLimits {
  /** Bytes kept per direction for resending; writes wait while this many are unacknowledged. */
  windowBytes: number;
  /** How long a broken stream may take to resume before it fails with STREAM_TRUNCATED. */
  resumeDeadlineMs: number;
  /** With nothing else to send for this long, a side sends an acknowledgement as a heartbeat. */
  heartbeatMs: number;
  /** No frame from the peer for this long (while reading) is a dead path: the transport is dropped. */
  silenceMs: number;
  /**
   * A side whose transport broke after its OPEN went out, before the peer's arrived, looks
   * for the peer on the session's resume channel this long before it starts over.
   */
  openResumeMs: number;
  /**
   * Keep each write of ZERO_COPY_MIN_BYTES or more as it is until the peer acknowledges it,
   * instead of copying it into the send buffer (docs/stream.md, "Zero-copy writes"). The
   * writer must then never modify a buffer it wrote, even after the write callback: a resume
   * may send it again. Off by default.
   */
  zeroCopyWrites: boolean;
}

/** A few round trips' worth on a fast path, and little enough to hold thousands of idle channels. */
export const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024;
/** Room for a relay restart, a dead one to be noticed by the worker, and a fresh pairing. */
export const DEFAULT_RESUME_DEADLINE_MS = 60_000;
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Three missed heartbeats. */
export const PEER_SILENCE_TIMEOUT_MS = 30_000;
/**
 * A peer that has the session open is on the resume channel within a ticket, a dial and two
 * handshakes (about 0.1 s here, a few seconds on a loaded machine or after a crash); too short
 * and the two miss each other, too long only delays the rare break before the peer's verdict.
 */
export const DEFAULT_OPEN_RESUME_MS = 10_000;

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  windowBytes: DEFAULT_WINDOW_BYTES,
  resumeDeadlineMs: DEFAULT_RESUME_DEADLINE_MS,
  heartbeatMs: HEARTBEAT_INTERVAL_MS,
  silenceMs: PEER_SILENCE_TIMEOUT_MS,
  openResumeMs: DEFAULT_OPEN_RESUME_MS,
  zeroCopyWrites: false,
};

/** Defaults filled in; a value that could only fail later is refused here. */
export function streamLimits(input: Partial<StreamLimits> = {}): StreamLimits {
  const limits = { ...DEFAULT_STREAM_LIMITS, ...input };
  const { windowBytes } = limits;
  if (
    !Number.isSafeInteger(windowBytes) ||
    windowBytes < MIN_WINDOW_BYTES ||
    windowBytes > MAX_WINDOW_BYTES
  ) {
    throw new FlockError(
      "CONFIG_INVALID",
      `The stream window must be a whole number of bytes from ${MIN_WINDOW_BYTES} to ${MAX_WINDOW_BYTES}.`,
    );
  }
  for (const key of ["resumeDeadlineMs", "heartbeatMs", "silenceMs", "openResumeMs"] as const) {
    if (!(Number.isFinite(limits[key]) && limits[key] > 0)) {
      throw new FlockError("CONFIG_INVALID", `The stream's ${key} must be a positive number of ms.`);
    }
  }
  if (typeof limits.zeroCopyWrites !== "boolean") {
    throw new FlockError("CONFIG_INVALID", "The stream's zeroCopyWrites must be true or false.");
  }
  if (limits.silenceMs <= limits.heartbeatMs) {
    throw new FlockError("CONFIG_INVALID", "The stream's silenceMs must be longer than its heartbeatMs.");
  }
  return limits;
}
