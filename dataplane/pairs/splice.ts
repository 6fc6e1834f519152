import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream";
import { watchIdle } from "./idle-timer.ts";

export type SpliceEndReason = "closed" | "reset" | "idle_timeout" | "drained" | "stopped";

export interface SpliceResult {
  reason: SpliceEndReason;
  /** Bytes that went from a to b and from b to a. */
  aToB: number;
  bToA: number;
}

export interface Splice {
  readonly done: Promise<SpliceResult>;
  /** Bytes moved so far in both directions. */
  bytes(): number;
  /** Tears the pair down now (drain deadline, shutdown, revocation), with a reset of both sides. */
  stop(reason: SpliceEndReason): void;
}

/** One paired side, as a splicer gets it. */
export interface SpliceSide {
  /** What the party speaks on after PAIRED; on plain TCP the socket itself. */
  readonly stream: Duplex;
  /** The TCP connection under every layer. */
  readonly socket: Socket;
  /** Bytes this side sent before the splice began; they go to the other side first. */
  readonly pending: Buffer;
}

export interface SpliceOptions {
  idleTimeoutMs: number;
}

/**
 * How a pair's bytes are moved. The JS splice below serves every transport; a kernel
 * splice (splice(2)) may take plain-TCP pairs, whose stream is their socket.
 */
export type Splicer = (a: SpliceSide, b: SpliceSide, options: SpliceOptions) => Splice;

/** Abrupt close: a TCP RST under whatever transport runs on top, so the party sees an error. */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/**
 * Ends both sides of a pair. Only a pair whose two directions both ended closes politely.
 * Any other end, the data plane's own (idle, drain, stop, revocation) included, resets
 * both: a clean TCP end would look like a finished stream to a party whose TLS takes a FIN
 * as an end. Both sockets are reset before either stream goes: destroying one side's
 * stream makes the other's pipeline close the other side politely.
 */
export function endBoth(sideA: SpliceSide, sideB: SpliceSide, reason: SpliceEndReason): void {
  if (reason !== "closed") {
    resetSocket(sideA.socket);
    resetSocket(sideB.socket);
  }
  sideA.stream.destroy();
  sideB.stream.destroy();
}

/**
 * Joins two byte streams. One pipeline per direction, so backpressure works both ways (a
 * peer that stops reading pauses only its own sender) and an end on one side becomes an
 * end on the other while the opposite direction keeps flowing (half-close; the sockets are
 * allowHalfOpen). An error or abrupt close on either side destroys both: a reset must
 * never leave the other side hanging.
 */
export const spliceStreams: Splicer = (sideA, sideB, options) => {
  const a = sideA.stream;
  const b = sideB.stream;
  if (sideA.pending.length > 0) a.unshift(sideA.pending);
  if (sideB.pending.length > 0) b.unshift(sideB.pending);
  let aToB = 0;
  let bToA = 0;
  let lastActivity = Date.now();
  let openDirections = 2;
  let finish!: (reason: SpliceEndReason) => void;
  const done = new Promise<SpliceResult>((resolve) => {
    let ended = false;
    finish = (reason) => {
      if (ended) return;
      ended = true;
      stopIdleWatch();
      endBoth(sideA, sideB, reason);
      resolve({ reason, aToB, bToA });
    };
  });

  // Counting with extra 'data' listeners keeps the pipelines free of a Transform per pair.
  a.on("data", (chunk: Buffer) => {
    aToB += chunk.length;
    lastActivity = Date.now();
  });
  b.on("data", (chunk: Buffer) => {
    bToA += chunk.length;
    lastActivity = Date.now();
  });

  // Registered before the pipelines' own handlers: the other side must get a RST before
  // pipeline's cleanup closes it politely.
  a.once("error", () => finish("reset"));
  b.once("error", () => finish("reset"));
  const directionDone = (error: Error | null | undefined) => {
    if (error) finish("reset");
    else if (--openDirections === 0) finish("closed");
  };
  pipeline(a, b, directionDone);
  pipeline(b, a, directionDone);

  const stopIdleWatch = watchIdle(
    options.idleTimeoutMs,
    () => Date.now() - lastActivity,
    () => finish("idle_timeout"),
  );

  return { done, bytes: () => aToB + bToA, stop: (reason) => finish(reason) };
};
