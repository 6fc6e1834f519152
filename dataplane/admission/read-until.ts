import type { Duplex } from "node:stream";

/** The other side went away before the handshake step finished; nothing to answer. */
export class ConnectionGone extends Error {
  constructor() {
    super("connection closed during the handshake");
    this.name = "ConnectionGone";
  }
}

/**
 * Pulls chunks off a stream (paused mode, so nothing is read that is not asked for) and
 * hands each to `take` until it returns a value. `take` may throw to refuse the input.
 * Works the same whether the bytes come all at once or one at a time. An aborted `signal`
 * (the handshake deadline) rejects with its reason.
 */
export function readUntil<T>(
  stream: Duplex,
  take: (chunk: Buffer) => T | undefined,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      stream.off("readable", onReadable);
      stream.off("end", onGone);
      stream.off("close", onGone);
      stream.off("error", onGone);
      signal?.removeEventListener("abort", onAbort);
    };
    const onGone = () => {
      cleanup();
      reject(new ConnectionGone());
    };
    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    const onReadable = () => {
      for (
        let chunk = stream.read() as Buffer | null;
        chunk !== null;
        chunk = stream.read() as Buffer | null
      ) {
        let result: T | undefined;
        try {
          result = take(chunk);
        } catch (error) {
          cleanup();
          reject(error);
          return;
        }
        if (result !== undefined) {
          cleanup();
          resolve(result);
          return;
        }
      }
    };
    if (stream.destroyed || stream.readableEnded) {
      reject(new ConnectionGone());
      return;
    }
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    stream.on("readable", onReadable);
    stream.on("end", onGone);
    stream.on("close", onGone);
    stream.on("error", onGone);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Settles as `work` does, or rejects with the signal's reason if it is aborted first. */
export function untilAborted<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
