import type { Duplex } from "node:stream";
import { FlockError } from "../../protocol/errors.ts";
import type { ControlFrame } from "./control-frames.ts";

/** After a clean end or an ABORT, the transport is destroyed at the latest this long after `end()`. */
export const CLOSE_LINGER_MS = 2_000;

/** The error a peer's ABORT frame means, whether it came first or mid-session. */
export function peerAbortError(frame: { code: string; message: string }): FlockError {
  return new FlockError("STREAM_ABORTED", `The peer gave the stream up: ${frame.message} (${frame.code}).`);
}

/** An ABORT from the peer: the stream fails with its error, and no ABORT goes back. */
export class PeerAborted extends Error {
  readonly error: FlockError;
  constructor(frame: { code: string; message: string }) {
    const error = peerAbortError(frame);
    super(error.message);
    this.error = error;
  }
}

/** What the peer is told when this side gives the stream up: its error, or that the application closed early. */
export function abortFrame(error: Error | null): ControlFrame {
  if (error === null) {
    return {
      type: "abort",
      code: "STREAM_ABORTED",
      message: "The application closed the stream before its end.",
    };
  }
  const code = error instanceof FlockError ? error.code : "STREAM_ABORTED";
  return { type: "abort", code, message: error.message };
}

/** `end()` with a last frame (TLS close_notify on top), then destroy when the peer answers or after a linger. */
export function closeGracefully(transport: Duplex, last?: Buffer): void {
  transport.on("error", () => {});
  const linger = setTimeout(() => transport.destroy(), CLOSE_LINGER_MS).unref();
  transport.once("close", () => clearTimeout(linger));
  transport.once("end", () => transport.destroy());
  transport.resume();
  if (last) transport.end(last);
  else transport.end();
}

/** Where a broken stream stood, for its STREAM_TRUNCATED message. */
export interface StreamCounts {
  received: number;
  endReceived: boolean;
  sent: number;
  acknowledged: number;
  ending: boolean;
}

/**
 * The error of a stream that broke and did not heal: what arrived, what the peer confirmed,
 * and why healing failed (`deadlineMs` set when a resume was tried; `cause`, its last failure).
 */
export function truncatedError(
  reason: string,
  counts: StreamCounts,
  healing?: { deadlineMs: number; cause: unknown },
): FlockError {
  const cause = healing?.cause;
  if (cause instanceof FlockError && cause.code === "SESSION_MISMATCH") return cause;
  const inbound = `${counts.received} bytes from the peer arrived ${counts.endReceived ? "with" : "without"} its end-of-stream frame`;
  const outbound = `the peer acknowledged ${counts.acknowledged} of the ${counts.sent} bytes sent${counts.ending ? " and the end" : ""}`;
  const why =
    healing === undefined
      ? ""
      : cause === undefined
        ? ` It was not resumed within the resume deadline (${healing.deadlineMs} ms).`
        : ` Resuming failed: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new FlockError(
    "STREAM_TRUNCATED",
    `The stream broke (${reason}): ${inbound}; ${outbound}.${why}`,
    cause === undefined ? undefined : { cause },
  );
}
