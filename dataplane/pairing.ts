import type { ErrorCode } from "../protocol/errors.ts";
import { FlockError } from "../protocol/errors.ts";

/**
 * Why a side or a pair stopped. Waiting sides end as peer_timeout, replaced, abandoned
 * (their connection went away) or drained; spliced pairs end as closed (both directions
 * finished), reset (an error or abrupt close on either side), idle_timeout, drained or
 * stopped. Every end is counted in metrics under one of these.
 */
export const PAIR_END_REASONS = [
  "closed",
  "reset",
  "idle_timeout",
  "drained",
  "stopped",
  "peer_timeout",
  "replaced",
  "abandoned",
] as const;
export type PairEndReason = (typeof PAIR_END_REASONS)[number];

/** What pairing needs of a connection: no sockets, so every transport and every unit test fits. */
export interface PairingSide {
  readonly id: string;
  /** The pair id (ticket `pair`, or the direct-mode id). */
  readonly pair: string;
  /** `user/party` of this side and of the side it wants. */
  readonly self: string;
  readonly peer: string;
  readonly user: string;
  /** Refuse this side: send an ERROR frame with this code and close. */
  fail(code: ErrorCode): void;
}

export interface PairingOptions<S extends PairingSide> {
  pairingTimeoutMs: number;
  /** Pairs held at once, counting a waiting side as the pair it will become. */
  maxPairs: number;
  /** Both sides are here: splice them. `waitedMs` is how long the first one waited. */
  onPaired(waiting: S, arriving: S, waitedMs: number): void;
  /** A waiting side ended without a pair. */
  onSideEnded(side: S, reason: PairEndReason): void;
}

interface Waiting<S> {
  side: S;
  since: number;
  timer: NodeJS.Timeout;
}

/**
 * Matches sides by pair id and direction. The slot key holds the pair id and both party
 * names, so only the two sides of one pair can ever meet in a slot: the same side again
 * (a reconnect: the newer replaces the stale one) or the opposite one (a pair).
 */
export class Pairing<S extends PairingSide> {
  readonly #options: PairingOptions<S>;
  readonly #slots = new Map<string, Waiting<S>>();
  #active = 0;

  constructor(options: PairingOptions<S>) {
    this.#options = options;
  }

  get waiting(): number {
    return this.#slots.size;
  }

  get active(): number {
    return this.#active;
  }

  /** Adds a side: it pairs at once or waits. Throws OVER_CAPACITY or CROSS_USER. */
  join(side: S): "paired" | "waiting" {
    const key = slotKey(side);
    const waiting = this.#slots.get(key);
    if (waiting && waiting.side.self === side.peer && waiting.side.peer === side.self) {
      // Admission already refuses tickets naming two users; this guards the pairing itself.
      if (waiting.side.user !== side.user) throw new FlockError("CROSS_USER");
      this.#remove(key, waiting);
      this.#active++;
      this.#options.onPaired(waiting.side, side, Date.now() - waiting.since);
      return "paired";
    }
    if (waiting) {
      this.#remove(key, waiting);
      waiting.side.fail("REPLACED");
      this.#options.onSideEnded(waiting.side, "replaced");
    } else if (this.#active + this.#slots.size >= this.#options.maxPairs) {
      throw new FlockError("OVER_CAPACITY");
    }
    const timer = setTimeout(() => this.#timeout(key), this.#options.pairingTimeoutMs);
    this.#slots.set(key, { side, since: Date.now(), timer });
    return "waiting";
  }

  /** A waiting side's connection went away; a no-op for sides that are not waiting. */
  leave(side: S): void {
    const key = slotKey(side);
    const waiting = this.#slots.get(key);
    if (waiting?.side !== side) return;
    this.#remove(key, waiting);
    this.#options.onSideEnded(side, "abandoned");
  }

  /** A pair handed out by onPaired has ended. */
  pairEnded(): void {
    this.#active--;
  }

  /** Refuses every waiting side with `code` (shutdown). */
  failAllWaiting(code: ErrorCode, reason: PairEndReason): void {
    for (const [key, waiting] of [...this.#slots]) {
      this.#remove(key, waiting);
      waiting.side.fail(code);
      this.#options.onSideEnded(waiting.side, reason);
    }
  }

  #timeout(key: string): void {
    const waiting = this.#slots.get(key);
    if (!waiting) return;
    this.#slots.delete(key);
    waiting.side.fail("PEER_TIMEOUT");
    this.#options.onSideEnded(waiting.side, "peer_timeout");
  }

  #remove(key: string, waiting: Waiting<S>): void {
    clearTimeout(waiting.timer);
    this.#slots.delete(key);
  }
}

function slotKey(side: PairingSide): string {
  const [lo, hi] = side.self < side.peer ? [side.self, side.peer] : [side.peer, side.self];
  return `${side.pair}\0${lo}\0${hi}`;
}
