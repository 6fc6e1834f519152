import type { ErrorCode } from "../../protocol/errors.ts";
import { FlockError } from "../../protocol/errors.ts";
import type { AdmittedSide } from "../admission/admitted-side.ts";
import type { DataPlaneLimits } from "../config.ts";
import type { DataPlaneMetrics } from "../metrics.ts";
import type { PairEndReason } from "./pairing.ts";
import { Pairing } from "./pairing.ts";
import type { Splice, SpliceEndReason, Splicer, SpliceSide } from "./splice.ts";
import { WaitingSide } from "./waiting-side.ts";

export interface PairsOptions {
  limits: Pick<
    DataPlaneLimits,
    | "pairingTimeoutMs"
    | "maxPairs"
    | "maxWaitingPerParty"
    | "maxPairsPerUser"
    | "maxEarlyBytes"
    | "waitingProbeIntervalMs"
    | "idleTimeoutMs"
  >;
  metrics: DataPlaneMetrics;
  /** Moves a pair's bytes: the JS splice, or a kernel one for the pairs it can take. */
  splicer: Splicer;
}

interface LivePair {
  readonly splice: Splice;
  readonly sides: readonly [AdmittedSide, AdmittedSide];
  /** Stopped because a side's party was revoked, so its end is counted as "revoked". */
  revoked: boolean;
}

/**
 * Every pair of the data plane, from a side's arrival to the pair's end: sides waiting
 * for their peer, spliced pairs, why each ended (counted in metrics), the bytes they
 * moved, and cutting off what newly revoked parties hold.
 */
export class Pairs {
  readonly #options: PairsOptions;
  readonly #pairing: Pairing<WaitingSide>;
  readonly #live = new Set<LivePair>();
  /** Bytes of pairs that have ended; live ones are asked. */
  #endedBytes = 0;

  constructor(options: PairsOptions) {
    this.#options = options;
    const { limits, metrics } = options;
    this.#pairing = new Pairing<WaitingSide>({
      pairingTimeoutMs: limits.pairingTimeoutMs,
      maxPairs: limits.maxPairs,
      maxWaitingPerParty: limits.maxWaitingPerParty,
      maxPairsPerUser: limits.maxPairsPerUser,
      onPaired: (waiting, arriving, waitedMs) => {
        arriving.met = waiting;
        metrics.pairsTotal.inc();
        metrics.pairingSeconds.observe(waitedMs / 1000);
      },
      onSideEnded: (waiting, reason) => {
        metrics.pairEnded(reason);
        waiting.side.log.info({ reason }, "side ended unpaired");
      },
    });
  }

  get active(): number {
    return this.#pairing.active;
  }

  get waiting(): number {
    return this.#pairing.waiting;
  }

  /**
   * Joins a side to its pair. Returns the side that was waiting for it, to be spliced with
   * it; or undefined when this side now waits (its peer's arrival splices it) or was
   * refused (OVER_CAPACITY, CROSS_USER).
   */
  join(side: AdmittedSide): WaitingSide | undefined {
    const joining = new WaitingSide(side, this.#options.limits);
    try {
      if (this.#pairing.join(joining) === "paired") return joining.met;
    } catch (error) {
      side.answers.refuse(error instanceof FlockError ? error : new FlockError("INTERNAL"));
      return undefined;
    }
    side.answers.waiting();
    joining.watch();
    void side.connection.closed.then(() => this.#pairing.leave(joining));
    return undefined;
  }

  /** PAIRED to both sides, then their bytes flow until the pair ends. */
  splice(waiting: WaitingSide, arriving: AdmittedSide): void {
    const a = waiting.side;
    const sideA = spliceSide(a, waiting.takeEarly(), arriving);
    const sideB = spliceSide(arriving, arriving.early, a);
    const splice = this.#options.splicer(sideA, sideB, { idleTimeoutMs: this.#options.limits.idleTimeoutMs });
    const live: LivePair = { splice, sides: [a, arriving], revoked: false };
    this.#live.add(live);
    void splice.done.then((result) => {
      this.#live.delete(live);
      this.#pairing.pairEnded(waiting);
      this.#endedBytes += result.aToB + result.bToA;
      this.#options.metrics.bytes.inc(result.aToB + result.bToA);
      const reason: PairEndReason = live.revoked ? "revoked" : result.reason;
      this.#options.metrics.pairEnded(reason);
      a.log.info({ ...result, reason }, "pair ended");
    });
  }

  /** Closes what newly revoked parties hold: refusing new hellos alone would leave them connected. */
  cutOff(fingerprints: readonly string[]): void {
    if (fingerprints.length === 0) return;
    const revoked = new Set(fingerprints);
    const isRevoked = (side: AdmittedSide) => revoked.has(side.party.thumbprint);
    this.#pairing.failWaiting((waiting) => isRevoked(waiting.side), "PARTY_REVOKED", "revoked");
    for (const live of this.#live) {
      if (!live.sides.some(isRevoked)) continue;
      live.revoked = true;
      live.splice.stop("stopped");
    }
  }

  /** Refuses every waiting side (drain, stop). */
  failWaiting(code: ErrorCode, reason: PairEndReason): void {
    this.#pairing.failAllWaiting(code, reason);
  }

  stopSplices(reason: SpliceEndReason): void {
    for (const live of this.#live) live.splice.stop(reason);
  }

  /**
   * Resets the pairs whose two sides resume on their own (docs/stream.md): they reconnect
   * through the worker, which sends them to another data plane, instead of being cut at the
   * drain deadline. Answers how many were reset.
   */
  moveResumable(): number {
    let moved = 0;
    for (const live of this.#live) {
      if (!live.sides.every((side) => side.resumable === true)) continue;
      live.splice.stop("drained");
      moved++;
    }
    return moved;
  }

  /** Settles when every pair spliced now has ended. */
  whenSplicesEnd(): Promise<void> {
    return Promise.all([...this.#live].map((live) => live.splice.done)).then(() => undefined);
  }

  /** Every byte spliced so far, by ended and live pairs. */
  splicedBytes(): number {
    let bytes = this.#endedBytes;
    for (const live of this.#live) bytes += live.splice.bytes();
    return bytes;
  }
}

/** Tells a side it is paired, and turns it into what a splicer takes. */
function spliceSide(side: AdmittedSide, pending: Buffer, peer: AdmittedSide): SpliceSide {
  const stream = side.answers.paired();
  side.log.info({ peerConn: peer.connection.id, peerTransport: peer.transport }, "paired");
  return { stream, socket: side.connection.socket, pending };
}
