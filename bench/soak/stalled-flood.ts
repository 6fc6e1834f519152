/**
 * The pre-authentication flood of docs/benchmarks.md's soak: connections that send part of
 * the magic and then nothing, from many loopback addresses (127.0.0.0/8 needs no setup), each
 * reopened as soon as the data plane drops it, straight at the data planes' own ports.
 */
import type { Socket } from "node:net";
import { connect } from "node:net";
import { MAGIC } from "../../protocol/frames.ts";

/** Before reopening a dropped connection: keeps a refused flood from spinning a core. */
const REOPEN_DELAY_MS = 50;

export interface FloodCounts {
  opened: number;
  /** Closed by the data plane (deadline, cap or stop), then reopened. */
  dropped: number;
}

/** `count` source addresses, one per /24, outside 127.0.0.0/24 where the parties' proxy sits. */
export function floodSources(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.${1 + Math.floor(i / 256)}.${i % 256}.1`);
}

export class StalledFlood {
  readonly counts: FloodCounts = { opened: 0, dropped: 0 };
  readonly #sockets = new Set<Socket>();
  readonly #targets: () => number[];
  readonly #sources: string[];
  #stopped = false;

  /** `targets` is read at every (re)open: data planes move to another port when they restart. */
  constructor(targets: () => number[], sources: string[]) {
    this.#targets = targets;
    this.#sources = sources;
  }

  start(connections: number): void {
    for (let i = 0; i < connections; i++) this.#open(i);
  }

  /** Connections open right now. */
  get open(): number {
    return this.#sockets.size;
  }

  stop(): void {
    this.#stopped = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  #open(slot: number): void {
    if (this.#stopped) return;
    const targets = this.#targets();
    const port = targets[slot % targets.length] as number;
    const localAddress = this.#sources[slot % this.#sources.length] as string;
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    this.#sockets.add(socket);
    this.counts.opened++;
    socket.once("connect", () => socket.write(MAGIC.subarray(0, 2)));
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.once("close", () => {
      this.#sockets.delete(socket);
      if (this.#stopped) return;
      this.counts.dropped++;
      setTimeout(() => this.#open(slot), REOPEN_DELAY_MS).unref();
    });
  }
}
