import type { Duplex } from "node:stream";

/** This side's position, sent in its RESUME frame. */
export interface OwnPosition {
  received: number;
  endReceived: boolean;
}

/** What a resumed transport starts from: the peer's RESUME frame, checked by the resumer. */
export interface PeerPosition {
  received: number;
  endReceived: boolean;
  window: number;
}

export interface Resumed {
  /** Positioned after the peer's RESUME frame, nothing of ours written on it yet. */
  transport: Duplex;
  peer: PeerPosition;
}

/**
 * Reconnects after a broken transport: a fresh ticket, the end-to-end mTLS again, RESUME
 * both ways (stream-channel.ts). Must give up when `signal` aborts (the resume deadline).
 */
export type Resumer = (own: OwnPosition, signal: AbortSignal) => Promise<Resumed>;

/** Why a resume did not happen: the resumer's last failure, or none if the deadline cut it short. */
export class ResumeFailed extends Error {
  readonly deadlineMs: number;
  constructor(deadlineMs: number, cause: unknown) {
    super("resume failed", cause === undefined ? undefined : { cause });
    this.deadlineMs = deadlineMs;
  }
}

export interface PendingResume {
  /** Resolves with the new transport, or rejects with ResumeFailed; settles at most once. */
  readonly done: Promise<Resumed>;
  /** Stops the resumer (the stream is gone); a transport it still delivers is destroyed. */
  cancel(): void;
}

/**
 * Runs `resume` against the resume deadline. At the deadline the resumer is told to stop; its
 * rejection (which can say what its last attempt ran into) comes a turn later and wins over
 * the bare deadline if it comes.
 */
export function resumeWithin(resume: Resumer, own: OwnPosition, deadlineMs: number): PendingResume {
  const abort = new AbortController();
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<Resumed>((resolve, reject) => {
    const fail = (cause: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abort.abort();
      reject(new ResumeFailed(deadlineMs, cause));
    };
    timer = setTimeout(() => {
      abort.abort();
      setImmediate(() => fail(undefined));
    }, deadlineMs);
    resume(own, abort.signal).then((resumed) => {
      if (settled) {
        resumed.transport.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve(resumed);
    }, fail);
  });
  return {
    done,
    cancel: () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abort.abort();
    },
  };
}
