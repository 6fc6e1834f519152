import type { TicketResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import type { RetryEvent, Track } from "../attempts.ts";
import { retryUntil } from "../attempts.ts";
import type { PairedAs, Reached, Route } from "../reach-peer.ts";
import { reachPeer, UnreachableRelays } from "../reach-peer.ts";
import { badFrame } from "./control-frames.ts";
import type { StreamEvent } from "./framed-stream.ts";
import type { OpenedSession, SessionBinding } from "./session-start.ts";
import { isLostTransport, OpenAhead, OpenInDoubt, openSession } from "./session-start.ts";
import type { ResumableSession } from "./stream-channel.ts";
import { resumeAttempt } from "./stream-channel.ts";
import type { StreamLimits } from "./stream-limits.ts";

export interface OpenedChannel {
  reached: Reached;
  /** Undefined: the peer does not speak wire version 2, `reached.socket` is the raw stream. */
  opened: OpenedSession | undefined;
}

/** A session whose OPEN went out before its transport broke, and how long to look for the peer on its resume channel. */
interface InDoubt extends ResumableSession {
  /** The pair's id as the data plane named it on the first transport. */
  pair: string;
  brokeAt: number;
  until: number;
}

/**
 * The attempts of `connect`'s retry loop for one channel. A break between the two sides' OPEN
 * frames leaves this side unable to tell whether the peer has the session open (its OPEN
 * arrived there) and is resuming it, or is starting over: so the next attempts look for the
 * peer on the session's resume channel for `openResumeMs`, then start over on the pair's
 * channel. A side that got the peer's OPEN has an open session and resumes it
 * (framed-stream.ts): the two meet whichever way the break fell (docs/stream.md "Resume").
 */
export class SessionOpener {
  readonly #route: Route;
  readonly #binding: SessionBinding;
  readonly #limits: StreamLimits;
  readonly #resume: boolean;
  readonly #onEvent: (event: StreamEvent | RetryEvent) => void;
  readonly #unreachable = new UnreachableRelays();
  #inDoubt: InDoubt | undefined;

  constructor(
    route: Route,
    binding: SessionBinding,
    stream: { limits: StreamLimits; resume: boolean },
    onEvent: (event: StreamEvent | RetryEvent) => void,
  ) {
    this.#route = route;
    this.#binding = binding;
    this.#limits = stream.limits;
    this.#resume = stream.resume;
    this.#onEvent = onEvent;
  }

  /**
   * One attempt: the resume channel while a half-opened session is in doubt, else the pair's
   * channel (with `issued`, a ticket for it fetched already, if there is one).
   */
  async attempt(track: Track, issued?: Promise<TicketResponse | undefined>): Promise<OpenedChannel> {
    const met = this.#inDoubt && (await this.#meetInDoubt(this.#inDoubt, track));
    if (met) return met;
    const own = { window: this.#limits.windowBytes, resume: this.#resume };
    const ahead = new OpenAhead(this.#binding, own);
    const reached = await reachPeer(
      this.#route,
      this.#binding.channel,
      track,
      this.#unreachable,
      issued,
      (socket, at) => ahead.frame(socket, at),
    ).catch((error: unknown) => {
      // The OPEN went out and the server's verdict never came: the server may hold the
      // session open, having had both (docs/stream.md "A break while the session opens").
      const sent = ahead.sent;
      if (!sent || !isLostTransport(error)) throw error;
      throw this.#doubt(new OpenInDoubt(sent.keys, error), sent.at);
    });
    if (!reached.framed) {
      reached.setup.stop();
      return { reached, opened: undefined };
    }
    try {
      return {
        reached,
        opened: await openSession(reached.socket, this.#binding, own, reached.setup, ahead.sent?.keys),
      };
    } catch (error) {
      throw error instanceof OpenInDoubt ? this.#doubt(error, reached) : error;
    } finally {
      reached.setup.stop();
    }
  }

  /** Looks on the session's resume channel first in the next attempts, if this side resumes. */
  #doubt(error: OpenInDoubt, at: PairedAs): OpenInDoubt {
    if (!this.#resume) return error;
    const now = Date.now();
    this.#inDoubt = {
      keys: error.keys,
      role: at.role,
      binding: this.#binding,
      pair: at.pair,
      brokeAt: now,
      until: now + this.#limits.openResumeMs,
    };
    return error;
  }

  /** Looks for the peer on the resume channel until the doubt runs out; undefined once it has. */
  async #meetInDoubt(doubt: InDoubt, track: Track): Promise<OpenedChannel | undefined> {
    // The window can grow while an attempt runs (meeting the peer restarts it).
    while (Date.now() < doubt.until) {
      try {
        return await retryUntil(
          doubt.until - Date.now(),
          (inner) => this.#resumeInDoubt(doubt, inner),
          this.#onEvent,
          track.signal,
        );
      } catch (error) {
        if (track.signal.aborted || !(error instanceof FlockError && error.code === "CONNECT_TIMEOUT")) {
          throw error;
        }
      }
    }
    this.#inDoubt = undefined;
    return undefined;
  }

  async #resumeInDoubt(doubt: InDoubt, track: Track): Promise<OpenedChannel> {
    // Nothing was sent or received in this session yet: both positions are 0.
    const own = { received: 0, endReceived: false, window: this.#limits.windowBytes };
    const { reached, peer } = await resumeAttempt(this.#route, doubt, own, track, this.#unreachable, () => {
      // The peer is on the resume channel, so it never starts over: should this transport
      // break too before the RESUME frames crossed, keep looking here.
      doubt.until = Math.max(doubt.until, Date.now() + this.#limits.openResumeMs);
    });
    if (peer.received !== 0 || peer.endReceived) {
      reached.socket.destroy();
      throw badFrame(`RESUME from offset ${peer.received} of a session that sent nothing`);
    }
    this.#inDoubt = undefined;
    this.#onEvent({ type: "resumed", afterMs: Date.now() - doubt.brokeAt, resent: 0 });
    return {
      reached: { ...reached, pair: doubt.pair },
      opened: { keys: doubt.keys, peerWindow: peer.window, resumable: true },
    };
  }
}
