import type { Duplex } from "node:stream";
import type { ErrorCode } from "../../protocol/errors.ts";
import { FlockError } from "../../protocol/errors.ts";
import type { AdmittedSide } from "../admission/admitted-side.ts";
import type { PairingSide } from "./pairing.ts";

export interface EarlyBytesLimits {
  maxEarlyBytes: number;
  waitingProbeIntervalMs: number;
}

/**
 * An admitted side as pairing holds it: its place in the pairing slots, and what it
 * sends before its peer comes. While alone it keeps being read, so a side that leaves is
 * noticed and freed, but at most maxEarlyBytes are held; past that it is no longer read
 * and TCP pushes back on the party. Its FIN then sits behind bytes nobody reads, so the
 * side gets a WAITING frame every waitingProbeIntervalMs: a client that has gone answers
 * with a reset, which closes the connection and frees its place.
 */
export class WaitingSide implements PairingSide {
  readonly side: AdmittedSide;
  /** The side that was waiting when this one joined; set by pairing as it joins. */
  met: WaitingSide | undefined;
  readonly #limits: EarlyBytesLimits;
  readonly #held: Buffer[] = [];
  #stopWatching: (() => void) | undefined;
  #stopClosedWatch: (() => void) | undefined;

  constructor(side: AdmittedSide, limits: EarlyBytesLimits) {
    this.side = side;
    this.#limits = limits;
  }

  get id(): string {
    return this.side.connection.id;
  }
  get pair(): string {
    return this.side.party.pair;
  }
  get self(): string {
    return this.side.party.self;
  }
  get peer(): string {
    return this.side.party.peer;
  }
  get user(): string {
    return this.side.party.user;
  }

  /** PairingSide: refuse with an ERROR (REPLACED, PEER_TIMEOUT, DRAINING, PARTY_REVOKED). */
  fail(code: ErrorCode): void {
    this.#stopWatching?.();
    this.side.answers.refuse(new FlockError(code));
  }

  /**
   * Starts reading what the side sends while it waits; an end means it left, and `left`
   * runs when its connection closes (a refused side too: it may have refused itself). A side
   * whose protocol sends nothing before it is paired is refused at its first byte. All of it
   * stops once the side is paired, so a pair holds no waiting side.
   */
  watch(left: () => void): void {
    const stream: Duplex = this.side.stream;
    let held = this.side.early.length;
    let probe: NodeJS.Timeout | undefined;
    const onReadable = () => {
      if (this.side.earlyBytes === "refused") {
        if (stream.readableLength > 0) this.fail("EARLY_DATA");
        return;
      }
      for (
        let chunk = stream.read() as Buffer | null;
        chunk !== null;
        chunk = stream.read() as Buffer | null
      ) {
        this.#held.push(chunk);
        held += chunk.length;
        if (held >= this.#limits.maxEarlyBytes) {
          stream.off("readable", onReadable);
          probe = setInterval(() => this.side.answers.waiting(), this.#limits.waitingProbeIntervalMs);
          return;
        }
      }
    };
    const onEnd = () => this.side.connection.destroy();
    stream.on("readable", onReadable);
    stream.on("end", onEnd);
    this.#stopClosedWatch = this.side.connection.onClose(left);
    this.#stopWatching = () => {
      clearInterval(probe);
      stream.off("readable", onReadable);
      stream.off("end", onEnd);
    };
  }

  /** Stops watching and hands over everything the side sent since its hello, in order. */
  takeEarly(): Buffer {
    this.#stopWatching?.();
    this.#stopClosedWatch?.();
    const early = this.#held.length === 0 ? this.side.early : Buffer.concat([this.side.early, ...this.#held]);
    this.#held.length = 0;
    return early;
  }
}
