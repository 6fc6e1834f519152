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
 * Works the same whether the bytes come all at once or one at a time.
 */
export function readUntil<T>(stream: Duplex, take: (chunk: Buffer) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      stream.off("readable", onReadable);
      stream.off("end", onGone);
      stream.off("close", onGone);
      stream.off("error", onGone);
    };
    const onGone = () => {
      cleanup();
      reject(new ConnectionGone());
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
    stream.on("readable", onReadable);
    stream.on("end", onGone);
    stream.on("close", onGone);
    stream.on("error", onGone);
  });
}
