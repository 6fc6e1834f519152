import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
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

/** What ending a side takes: its stream and the TCP connection under it. */
type SpliceEnds = Pick<SpliceSide, "stream" | "socket">;

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
export function endBoth(sideA: SpliceEnds, sideB: SpliceEnds, reason: SpliceEndReason): void {
  if (reason !== "closed") {
    resetSocket(sideA.socket);
    resetSocket(sideB.socket);
  }
  sideA.stream.destroy();
  sideB.stream.destroy();
}

/**
 * Joins two byte streams, one direction each way: backpressure both ways (a peer that stops
 * reading pauses only its own sender), an end on one side passed on to the other while the
 * opposite direction keeps flowing (half-close; the sockets are allowHalfOpen), and an error
 * or an abrupt close on either side resets both: a reset must never leave the other side
 * hanging. An idle pair is most of what a data plane holds, so a pair is two Directions and
 * their listeners, nothing more: no `stream.pipeline` or `stream.finished` (dozens of
 * closures per stream between them; docs/data-plane.md, "Idle memory").
 */
export const spliceStreams: Splicer = (sideA, sideB, options) => new StreamPair(sideA, sideB, options);

/**
 * Bytes from one stream to the other, and the ends it watches: `from` read to its end,
 * `to` flushed after its end; an error on `from`, or `from` closed before it was done both
 * ways (a TCP close under it, a WebSocket dropped), is a reset.
 */
class Direction {
  bytes = 0;
  fromEnded = false;
  toFinished = false;
  /** The other way, whose `to` is this one's `from`: with it, `from` is done both ways. */
  back!: Direction;
  constructor(
    readonly pair: StreamPair,
    readonly from: Duplex,
    readonly to: Duplex,
  ) {
    from.on("data", this.#onData);
    from.on("end", this.#onEnd);
    from.on("error", this.#onError);
    from.on("close", this.#onClose);
    to.on("drain", this.#onDrain);
    to.on("finish", this.#onFinish);
  }

  get done(): boolean {
    return this.fromEnded && this.toFinished;
  }

  readonly #onData = (chunk: Buffer) => {
    this.bytes += chunk.length;
    this.pair.lastActivity = Date.now();
    if (!this.to.write(chunk)) this.from.pause();
  };
  readonly #onDrain = () => this.from.resume();
  readonly #onEnd = () => {
    this.fromEnded = true;
    this.to.end();
    this.pair.directionMoved();
  };
  readonly #onFinish = () => {
    this.toFinished = true;
    this.pair.directionMoved();
  };
  readonly #onError = () => this.pair.stop("reset");
  readonly #onClose = () => {
    if (!(this.fromEnded && this.back.toFinished)) this.pair.stop("reset");
  };
}

class StreamPair implements Splice {
  readonly done: Promise<SpliceResult>;
  lastActivity = Date.now();
  /** Not the sides themselves: their pending bytes (and the buffer they are cut from) are not kept. */
  readonly #sides: readonly [SpliceEnds, SpliceEnds];
  readonly #aToB: Direction;
  readonly #bToA: Direction;
  #ended = false;
  #resolve!: (result: SpliceResult) => void;
  readonly #stopIdleWatch: () => void;

  constructor(sideA: SpliceSide, sideB: SpliceSide, options: SpliceOptions) {
    this.#sides = [
      { stream: sideA.stream, socket: sideA.socket },
      { stream: sideB.stream, socket: sideB.socket },
    ];
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    const a = sideA.stream;
    const b = sideB.stream;
    if (sideA.pending.length > 0) a.unshift(sideA.pending);
    if (sideB.pending.length > 0) b.unshift(sideB.pending);
    this.#aToB = new Direction(this, a, b);
    this.#bToA = new Direction(this, b, a);
    this.#aToB.back = this.#bToA;
    this.#bToA.back = this.#aToB;
    this.#stopIdleWatch = watchIdle(
      options.idleTimeoutMs,
      () => Date.now() - this.lastActivity,
      () => this.stop("idle_timeout"),
    );
    // A side that went while being told it is paired has no close event left to send.
    if (a.destroyed || b.destroyed) {
      this.stop("reset");
      return;
    }
    // A stream its handshake read in paused mode does not start flowing on a 'data' listener alone.
    a.resume();
    b.resume();
  }

  bytes(): number {
    return this.#aToB.bytes + this.#bToA.bytes;
  }

  /** Only a pair whose two directions were both read to their end and flushed closes politely. */
  directionMoved(): void {
    if (this.#aToB.done && this.#bToA.done) this.stop("closed");
  }

  stop(reason: SpliceEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopIdleWatch();
    endBoth(this.#sides[0], this.#sides[1], reason);
    this.#resolve({ reason, aToB: this.#aToB.bytes, bToA: this.#bToA.bytes });
  }
}
