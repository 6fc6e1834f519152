import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { ErrorCode } from "../../protocol/errors.ts";
import { FlockError } from "../../protocol/errors.ts";
import type { PeerProtocol } from "../../protocol/frames.ts";
import type { Role } from "../../protocol/ticket.ts";
import type { AdmittedSide } from "../admission/admitted-side.ts";
import { sideLogBindings } from "../admission/admitted-side.ts";
import type { DataPlaneLimits } from "../config.ts";
import type { DataPlaneMetrics } from "../metrics.ts";
import type { PairEndReason } from "./pairing.ts";
import { Pairing } from "./pairing.ts";
import type { Splice, SpliceEndReason, SpliceResult, Splicer, SpliceSide } from "./splice.ts";
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
  /** The data plane's logger, which each side's is made from. */
  logger: Logger;
}

/** What a live pair keeps of each side: no stream or connection (see LivePair). */
interface LiveSide {
  /** Of the side's relay certificate, for the revocation cut-off. */
  readonly thumbprint: string;
  readonly resumable: boolean;
}

/**
 * A pair from the moment both sides are told until it ends. Telling a side may take a
 * moment (the original relay's TLS must finish first), so the splice comes later; a stop
 * asked for meanwhile is kept and applied as the splice starts. It holds no side, stream
 * or connection, so an idle kernel-spliced pair keeps no JavaScript socket alive
 * (docs/data-plane.md, "Kernel splice (plain-TCP pairs)").
 */
class LivePair {
  splice: Splice | undefined;
  /** Stopped because a side's party was revoked, so its end is counted as "revoked". */
  revoked = false;
  readonly sides: readonly [LiveSide, LiveSide];
  #stopAsked: SpliceEndReason | undefined;

  constructor(sides: readonly [AdmittedSide, AdmittedSide]) {
    const keep = ({ party, resumable }: AdmittedSide) => ({
      thumbprint: party.thumbprint,
      resumable: resumable === true,
    });
    this.sides = [keep(sides[0]), keep(sides[1])];
  }

  started(splice: Splice): Promise<SpliceResult> {
    this.splice = splice;
    if (this.#stopAsked) splice.stop(this.#stopAsked);
    return splice.done;
  }

  stop(reason: SpliceEndReason): void {
    if (this.splice) this.splice.stop(reason);
    else this.#stopAsked ??= reason;
  }
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
  /** Who waits for the last live pair to end (a drain): one list, no promise per pair. */
  #whenNoneLive: Array<() => void> = [];

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
    joining.watch(() => this.#pairing.leave(joining));
    return undefined;
  }

  /**
   * PAIRED (or the original relay's Ready) to both sides, then their bytes flow until the
   * pair ends. The arriving side is told first: the original relay's protocol has its
   * end-to-end TLS server told first, so it listens before its client speaks.
   */
  splice(waiting: WaitingSide, arriving: AdmittedSide): void {
    const a = waiting.side;
    const live = new LivePair([a, arriving]);
    this.#live.add(live);
    const [roleA, roleB] = roles(a, arriving);
    const streamB = arriving.answers.paired({ role: roleB, peerProtocol: protocolOf(a) });
    const streamA = a.answers.paired({ role: roleA, peerProtocol: protocolOf(arriving) });
    const pendingA = waiting.takeEarly();
    void Promise.all([streamA, streamB]).then(([sa, sb]) => {
      const sideA = spliceSide(a, sa, pendingA, arriving);
      const sideB = spliceSide(arriving, sb, arriving.early, a);
      const { idleTimeoutMs } = this.#options.limits;
      this.#untilEnded(live, this.#options.splicer(sideA, sideB, { idleTimeoutMs }), a);
    });
  }

  /**
   * Counts the pair's end. Keeps only the user and what the first side's log lines are bound
   * to while the pair lives, not its logger (docs/data-plane.md, "Idle memory").
   */
  #untilEnded(live: LivePair, splice: Splice, side: AdmittedSide): void {
    const { user } = side.party;
    const bindings = sideLogBindings(side.connection, side.transport, side.party);
    void live.started(splice).then((result) => {
      this.#live.delete(live);
      if (this.#live.size === 0) for (const resolve of this.#whenNoneLive.splice(0)) resolve();
      this.#pairing.pairEnded({ user });
      this.#endedBytes += result.aToB + result.bToA;
      this.#options.metrics.bytes.inc(result.aToB + result.bToA);
      const reason: PairEndReason = live.revoked ? "revoked" : result.reason;
      this.#options.metrics.pairEnded(reason);
      this.#options.logger.info({ ...bindings, ...result, reason }, "pair ended");
    });
  }

  /** Closes what newly revoked parties hold: refusing new hellos alone would leave them connected. */
  cutOff(fingerprints: readonly string[]): void {
    if (fingerprints.length === 0) return;
    const revoked = new Set(fingerprints);
    this.#pairing.failWaiting(
      (waiting) => revoked.has(waiting.side.party.thumbprint),
      "PARTY_REVOKED",
      "revoked",
    );
    for (const live of this.#live) {
      if (!live.sides.some((side) => revoked.has(side.thumbprint))) continue;
      live.revoked = true;
      live.stop("stopped");
    }
  }

  /** Refuses every waiting side (drain, stop). */
  failWaiting(code: ErrorCode, reason: PairEndReason): void {
    this.#pairing.failAllWaiting(code, reason);
  }

  stopSplices(reason: SpliceEndReason): void {
    for (const live of this.#live) live.stop(reason);
  }

  /**
   * Resets the pairs whose two sides resume on their own (docs/stream.md): they reconnect
   * through the worker, which sends them to another data plane, instead of being cut at the
   * drain deadline. Answers how many were reset.
   */
  moveResumable(): number {
    let moved = 0;
    for (const live of this.#live) {
      if (!live.sides.every((side) => side.resumable)) continue;
      live.stop("drained");
      moved++;
    }
    return moved;
  }

  /** Settles when no pair is left: every pair spliced now, and any spliced meanwhile, has ended. */
  whenSplicesEnd(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenNoneLive.push(resolve));
  }

  /** Every byte spliced so far, by ended and live pairs. */
  splicedBytes(): number {
    let bytes = this.#endedBytes;
    for (const live of this.#live) bytes += live.splice?.bytes() ?? 0;
    return bytes;
  }
}

const protocolOf = (side: AdmittedSide): PeerProtocol => (side.transport === "frelay" ? "frelay" : "flock");

/**
 * Who is the end-to-end TLS client. Flock parties keep the role their admission gave them
 * (the ticket's, or the direct-mode order of names); as soon as one side is a client of the
 * original relay, roles go by arrival as that relay gave them: the first arriver is the
 * client (Mode 2), the second the server (Mode 1).
 */
function roles(waiting: AdmittedSide, arriving: AdmittedSide): [Role, Role] {
  if (waiting.transport === "frelay" || arriving.transport === "frelay") return ["client", "server"];
  return [waiting.party.role, arriving.party.role];
}

/** A side told it is paired, as a splicer takes it. */
function spliceSide(side: AdmittedSide, stream: Duplex, pending: Buffer, peer: AdmittedSide): SpliceSide {
  side.log.info({ peerConn: peer.connection.id, peerTransport: peer.transport }, "paired");
  return { stream, socket: side.connection.socket, pending };
}
