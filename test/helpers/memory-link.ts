import { Duplex } from "node:stream";

/**
 * Two ends of an in-memory byte stream, for stream tests without sockets. Writes reach the
 * other end's readable side; a writer waits while the other end's reader is behind
 * (backpressure); `end()` is a FIN; `destroy(error)` reaches the other end as that error
 * (a reset). `tap` sees every chunk of one direction before it is delivered and may cut it.
 */
export type Cut = { at: number; how: "fin" | "reset" | "stall" };

export interface LinkOptions {
  /** Cut the a→b or b→a direction after this many bytes. */
  aToB?: Cut;
  bToA?: Cut;
}

export function memoryLink(options: LinkOptions = {}): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (self: number, cut: Cut | undefined): Duplex => {
    let carried = 0;
    let waiting: (() => void) | undefined;
    let stalled = false;
    const other = () => ends[1 - self] as Duplex;
    const end = new Duplex({
      allowHalfOpen: true,
      read() {
        const resume = (ends[1 - self] as Duplex & { wake?: () => void }).wake;
        resume?.();
      },
      write(chunk: Buffer, _encoding, callback) {
        if (stalled) return; // never calls back: a direction dropped on the floor
        let deliver = chunk;
        if (cut && carried + chunk.length > cut.at) {
          deliver = chunk.subarray(0, cut.at - carried);
          carried = cut.at;
          if (deliver.length > 0) other().push(deliver);
          if (cut.how === "fin") other().push(null);
          else if (cut.how === "reset") {
            const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
            other().destroy(reset);
            end.destroy(reset);
          } else stalled = true;
          callback();
          return;
        }
        carried += chunk.length;
        if (other().push(deliver)) callback();
        else waiting = () => callback();
      },
      final(callback) {
        if (!stalled) other().push(null);
        callback();
      },
      destroy(error, callback) {
        const peer = other();
        if (!peer.destroyed) {
          if (error) peer.destroy(error);
          else peer.push(null);
        }
        callback(error);
      },
    });
    (end as Duplex & { wake?: () => void }).wake = () => {
      const w = waiting;
      waiting = undefined;
      w?.();
    };
    return end;
  };
  ends.push(make(0, options.aToB), make(1, options.bToA));
  return [ends[0] as Duplex, ends[1] as Duplex];
}
