import { FlockError } from "../../protocol/errors.ts";
import type { Role } from "../../protocol/ticket.ts";
import type { RetryEvent, Track } from "../attempts.ts";
import { retryUntil } from "../attempts.ts";
import type { Reached, Route } from "../reach-peer.ts";
import { reachPeer, UnreachableRelays } from "../reach-peer.ts";
import type { StreamEvent } from "./framed-stream.ts";
import { FramedStream } from "./framed-stream.ts";
import type { OwnPosition, PeerPosition, Resumer } from "./resume-within.ts";
import type { SessionKeys } from "./session-keys.ts";
import type { OpenedSession, SessionBinding } from "./session-start.ts";
import { resumeSession } from "./session-start.ts";
import type { StreamLimits } from "./stream-limits.ts";

/** What a resume needs of the session: its keys, this side's role in it and its binding. */
export interface ResumableSession {
  keys: SessionKeys;
  role: Role;
  binding: SessionBinding;
}

/**
 * One resume attempt: the peer again on the session's resume channel, with the same roles,
 * the end-to-end mTLS again, RESUME both ways. `onMet` runs once the peer is there. The
 * setup's silence bound holds per attempt, so a relay that stalls one does not hold the resume
 * until its deadline: the next attempt gets a fresh ticket.
 */
export async function resumeAttempt(
  route: Route,
  session: ResumableSession,
  own: OwnPosition & { window: number },
  track: Track,
  unreachable: UnreachableRelays,
  onMet: () => void = () => {},
): Promise<{ reached: Reached; peer: PeerPosition }> {
  const again = await reachPeer(route, session.keys.resumeChannel, track, unreachable);
  try {
    if (!again.framed || again.role !== session.role) {
      again.socket.destroy();
      throw new FlockError("SESSION_MISMATCH", "The peer came back without wire version 2.");
    }
    onMet();
    const peer = await resumeSession(
      again.socket,
      session.keys,
      again.role,
      session.binding,
      own,
      again.setup,
    );
    return { reached: again, peer };
  } finally {
    again.setup.stop();
  }
}

/**
 * The application's stream over an opened version-2 session. When its transport breaks, it
 * reaches the peer again the way it first did (a fresh ticket and any data plane the worker
 * picks, or the same data plane in direct mode; any transport) on the session's own resume
 * channel, re-runs the end-to-end mTLS, and resumes there (docs/stream.md).
 */
export function framedChannel(
  route: Route,
  first: Reached,
  opened: OpenedSession,
  binding: SessionBinding,
  limits: StreamLimits,
  onEvent: (event: StreamEvent | RetryEvent) => void,
): FramedStream {
  const session = { keys: opened.keys, role: first.role, binding };
  const resume: Resumer = (own, signal) => {
    const unreachable = new UnreachableRelays();
    return retryUntil(
      limits.resumeDeadlineMs,
      async (track) => {
        const { reached, peer } = await resumeAttempt(
          route,
          session,
          { ...own, window: limits.windowBytes },
          track,
          unreachable,
        );
        return { transport: reached.socket, peer };
      },
      onEvent,
      signal,
    );
  };
  return new FramedStream(first.socket, {
    limits,
    peerWindow: opened.peerWindow,
    ...(opened.resumable ? { resume } : {}),
    onEvent,
  });
}
