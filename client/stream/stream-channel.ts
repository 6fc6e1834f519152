import { FlockError } from "../../protocol/errors.ts";
import type { RetryEvent } from "../attempts.ts";
import { retryUntil } from "../attempts.ts";
import type { Reached, Route } from "../reach-peer.ts";
import { reachPeer, UnreachableRelays } from "../reach-peer.ts";
import type { StreamEvent } from "./framed-stream.ts";
import { FramedStream } from "./framed-stream.ts";
import type { Resumer } from "./resume-within.ts";
import type { OpenedSession } from "./session-start.ts";
import { resumeSession } from "./session-start.ts";
import type { StreamLimits } from "./stream-limits.ts";

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
  limits: StreamLimits,
  onEvent: (event: StreamEvent | RetryEvent) => void,
): FramedStream {
  const resume: Resumer = (own, signal) => {
    const unreachable = new UnreachableRelays();
    return retryUntil(
      limits.resumeDeadlineMs,
      async (track) => {
        const again = await reachPeer(route, opened.keys.resumeChannel, track, unreachable);
        if (!again.framed || again.role !== first.role) {
          again.socket.destroy();
          throw new FlockError("SESSION_MISMATCH", "The peer came back without wire version 2.");
        }
        const peer = await resumeSession(again.socket, opened.keys, again.role, {
          ...own,
          window: limits.windowBytes,
        });
        return { transport: again.socket, peer };
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
