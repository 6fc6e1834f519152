import type { ErrorCode } from "../../protocol/errors.ts";
import { FlockError } from "../../protocol/errors.ts";
import { Tally } from "../tally.ts";

/**
 * Why a side or a pair stopped. Waiting sides end as peer_timeout, replaced, abandoned
 * (their connection went away), drained or revoked; spliced pairs end as closed (both directions
 * finished), reset (an error or abrupt close on either side), idle_timeout, drained or
 * stopped or revoked. Every end is counted in metrics under one of these.
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
  "revoked",
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
  /** Sides of one party waiting at once: pair ids and channels are free labels, so one party could mint many. */
  maxWaitingPerParty: number;
  /** Pairs (spliced or waiting) held at once by the parties of one user. */
  maxPairsPerUser: number;
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
  /** Waiting sides per party (`self`) and pairs held per user; entries at zero are deleted. */
  readonly #waitingByParty = new Tally();
  readonly #heldByUser = new Tally();

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
      // The waiting side's share becomes the pair's: still one held by this user.
      this.#heldByUser.add(side.user, 1);
      this.#options.onPaired(waiting.side, side, Date.now() - waiting.since);
      return "paired";
    }
    if (waiting) {
      this.#remove(key, waiting);
      waiting.side.fail("REPLACED");
      this.#options.onSideEnded(waiting.side, "replaced");
    } else {
      this.#checkShares(side);
    }
    const timer = setTimeout(() => this.#timeout(key), this.#options.pairingTimeoutMs);
    this.#slots.set(key, { side, since: Date.now(), timer });
    this.#waitingByParty.add(side.self, 1);
    this.#heldByUser.add(side.user, 1);
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

  /** A pair handed out by onPaired has ended; `side` is either of its sides (its user is enough). */
  pairEnded(side: Pick<S, "user">): void {
    this.#active--;
    this.#heldByUser.add(side.user, -1);
  }

  /** Refuses every waiting side `which` selects with `code` (revocation). */
  failWaiting(which: (side: S) => boolean, code: ErrorCode, reason: PairEndReason): void {
    for (const [key, waiting] of [...this.#slots]) {
      if (!which(waiting.side)) continue;
      this.#remove(key, waiting);
      waiting.side.fail(code);
      this.#options.onSideEnded(waiting.side, reason);
    }
  }

  /** Refuses every waiting side with `code` (shutdown). */
  failAllWaiting(code: ErrorCode, reason: PairEndReason): void {
    this.failWaiting(() => true, code, reason);
  }

  /** Global capacity first, then this party's and this user's share of it. */
  #checkShares(side: S): void {
    const { maxPairs, maxWaitingPerParty, maxPairsPerUser } = this.#options;
    if (this.#active + this.#slots.size >= maxPairs) throw new FlockError("OVER_CAPACITY");
    if (this.#waitingByParty.get(side.self) >= maxWaitingPerParty) {
      throw new FlockError(
        "OVER_CAPACITY",
        `This party already has ${maxWaitingPerParty} sides waiting for a peer, its share of the data plane.`,
      );
    }
    if (this.#heldByUser.get(side.user) >= maxPairsPerUser) {
      throw new FlockError(
        "OVER_CAPACITY",
        `This user already holds ${maxPairsPerUser} pairs, its share of the data plane.`,
      );
    }
  }

  #timeout(key: string): void {
    const waiting = this.#slots.get(key);
    if (!waiting) return;
    this.#remove(key, waiting);
    waiting.side.fail("PEER_TIMEOUT");
    this.#options.onSideEnded(waiting.side, "peer_timeout");
  }

  /** Every way a side stops waiting goes through here, so the shares always add up. */
  #remove(key: string, waiting: Waiting<S>): void {
    clearTimeout(waiting.timer);
    this.#slots.delete(key);
    this.#waitingByParty.add(waiting.side.self, -1);
    this.#heldByUser.add(waiting.side.user, -1);
  }
}

function slotKey(side: PairingSide): string {
  const [lo, hi] = side.self < side.peer ? [side.self, side.peer] : [side.peer, side.self];
  return `${side.pair}\0${lo}\0${hi}`;
}
