import type { Socket } from "node:net";
import type { Duplex } from "node:stream";

export type StreamEndReason = "closed" | "reset" | "idle_timeout";

export interface StreamResult {
  reason: StreamEndReason;
  /** Bytes from the local program to the peer, and back. */
  sent: number;
  received: number;
}

export interface JoinedStream {
  readonly done: Promise<StreamResult>;
  /** The other end of the tunnel reset this stream: reset the local socket, drop the channel. */
  resetByPeer(): void;
  /** This end shuts down: the other end is told, both sockets go now. */
  stop(): void;
}

/**
 * After this end resets a stream, the end-to-end channel is kept open (unread) this long at
 * most while the reset message reaches the other end on the control channel: an end-to-end
 * stream that is simply dropped can arrive there as a clean end of data, which would turn a
 * reset into a normal close for the program on the other side.
 */
export const RESET_HOLD_MS = 10_000;

/**
 * Joins a local TCP connection to its end-to-end stream. Each direction is piped with its
 * end (half-close) carried through; a failure of the local socket or of the stream resets
 * the local socket (a TCP RST, so the program sees an error, not an end of data), and
 * `sayReset` tells the other end of the tunnel to do the same. Pipes rather than
 * stream.pipeline: pipeline destroys both sides on an error, and on a local failure the
 * stream must outlive the local socket (RESET_HOLD_MS).
 */
export function joinStream(
  local: Socket,
  remote: Duplex,
  sayReset: () => void,
  idleTimeoutMs: number,
): JoinedStream {
  let reason: StreamEndReason | undefined;
  let sent = 0;
  let received = 0;
  let lastActivity = Date.now();
  let holdTimer: NodeJS.Timeout | undefined;

  local.on("data", (chunk: Buffer) => {
    sent += chunk.length;
    lastActivity = Date.now();
  });
  remote.on("data", (chunk: Buffer) => {
    received += chunk.length;
    lastActivity = Date.now();
  });
  local.pipe(remote);
  remote.pipe(local);

  const detach = (why: StreamEndReason) => {
    reason ??= why;
    clearTimeout(idleTimer);
    local.unpipe(remote);
    remote.unpipe(local);
    local.resetAndDestroy();
  };
  /** The problem is here (or this end stops): the peer is told, then its stream dropped. */
  const resetHere = (why: StreamEndReason) => {
    if (reason !== undefined) return;
    detach(why);
    sayReset();
    // Still flowing (the byte counter reads it), so the other end's close is seen.
    remote.once("end", () => remote.destroy());
    holdTimer = setTimeout(() => remote.destroy(), RESET_HOLD_MS);
  };
  const resetThere = () => {
    if (reason !== undefined) return;
    detach("reset");
    remote.destroy();
  };

  local.on("error", () => resetHere("reset"));
  // The stream failed under us (relay gone, peer crashed): nothing is left to hold.
  remote.on("error", () => {
    resetThere();
    sayReset();
  });

  const checkIdle = () => {
    const idleMs = Date.now() - lastActivity;
    if (idleMs >= idleTimeoutMs) resetHere("idle_timeout");
    else idleTimer = setTimeout(checkIdle, idleTimeoutMs - idleMs);
  };
  let idleTimer = setTimeout(checkIdle, idleTimeoutMs);

  const closed = (stream: Duplex) => new Promise<void>((resolve) => stream.once("close", () => resolve()));
  const done = Promise.all([closed(local), closed(remote)]).then((): StreamResult => {
    clearTimeout(idleTimer);
    clearTimeout(holdTimer);
    return { reason: reason ?? "closed", sent, received };
  });
  return {
    done,
    resetByPeer: resetThere,
    stop: () => {
      if (reason === undefined) sayReset();
      resetThere();
    },
  };
}

export function describeEnd(channel: string, result: StreamResult): string {
  return `stream ${channel} ${result.reason} (${result.sent} bytes sent, ${result.received} received)`;
}
