/**
 * Kernel splice for plain-TCP pairs: once both sockets are handed over, the native addon
 * (native/splice/) moves their bytes with splice(2) on one thread of its own, and the
 * JavaScript thread sees a pair again only when it ends. Same promises and the same Splice
 * handle as the JS splice (splice.ts), which stays the fallback: for any pair whose
 * streams are not both plain TCP sockets, and for every pair when the addon is not built
 * or is turned off. See docs/data-plane.md ("Kernel splice (plain-TCP pairs)").
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { watchIdle } from "./idle-timer.ts";
import type { Splice, SpliceEndReason, SpliceOptions, SpliceResult, Splicer, SpliceSide } from "./splice.ts";
import { endBoth, spliceStreams } from "./splice.ts";

/** What native/splice/src/addon.cc exports. */
interface SpliceAddon {
  start(onEnd: (id: number, kind: number, errno: number, aToB: number, bToA: number) => void): void;
  open(fdA: number, fdB: number, headToA?: Uint8Array, headToB?: Uint8Array): number;
  bytes(id: number): number;
  idleMs(id: number): number;
  stop(id: number, reset: boolean): void;
  stats(): { pairs: number; pipesOpen: number; pipesIdle: number };
  readonly maxIdlePipes: number;
}

/** EndKind in native/splice/src/splice-loop.h. */
const END_CLOSED = 0;
const END_RESET = 1;

/** Where native/splice/install.mjs puts the addon, from the repository root. */
const ADDON_FILE = join("native", "splice", "build", "Release", "flock_splice.node");
const EMPTY = Buffer.alloc(0);

/** Which splice a data plane uses for its tcp pairs, and why when it is not the kernel's. */
export type SplicerChoice =
  | { path: "kernel"; splice: Splicer; stats: () => ReturnType<SpliceAddon["stats"]>; maxIdlePipes: number }
  | { path: "js"; splice: Splicer; why: string };

/** The started addon, and the pairs it holds by id until it reports their end. */
interface LoadedAddon {
  addon: SpliceAddon;
  ends: Map<number, { ended(kind: number, aToB: number, bToA: number): void }>;
}

let loaded: LoadedAddon | string | undefined;

/**
 * The built addon, looked for in each folder above this module: it runs from the sources
 * (dataplane/pairs/) and from the compiled bundle (dist/cli/).
 */
function findAddon(): string | undefined {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, ADDON_FILE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Loads and starts the addon once per process; a string says why it cannot be used. */
function loadAddon(): LoadedAddon | string {
  if (loaded !== undefined) return loaded;
  if (process.platform !== "linux") {
    loaded = "splice(2) is Linux-only";
    return loaded;
  }
  const path = findAddon();
  if (path === undefined) {
    loaded = "the native addon is not built; build it with: node native/splice/install.mjs";
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as SpliceAddon;
    const ends: LoadedAddon["ends"] = new Map();
    addon.start((id, kind, _errno, aToB, bToA) => {
      const pair = ends.get(id);
      ends.delete(id);
      pair?.ended(kind, aToB, bToA);
    });
    loaded = { addon, ends };
  } catch (error) {
    loaded = `the native addon does not load (${(error as Error).message.split("\n")[0]}); rebuild it with: node native/splice/install.mjs`;
  }
  return loaded;
}

/**
 * The data plane's choice, made once at start. `wanted` false (FLOCK_NATIVE_SPLICE=0)
 * forces the JS splice.
 */
export function chooseSplicer(wanted: boolean): SplicerChoice {
  if (!wanted) return { path: "js", splice: spliceStreams, why: "turned off (FLOCK_NATIVE_SPLICE=0)" };
  const native = loadAddon();
  if (typeof native === "string") return { path: "js", splice: spliceStreams, why: native };
  return {
    path: "kernel",
    splice: (a, b, options) => kernelSplice(native, a, b, options),
    stats: () => native.addon.stats(),
    maxIdlePipes: native.addon.maxIdlePipes,
  };
}

/** The socket's descriptor when the side speaks plain TCP (no TLS, no WebSocket on it), or undefined. */
function tcpDescriptor(side: SpliceSide): number | undefined {
  if (side.stream !== side.socket) return undefined;
  // Node keeps the descriptor on the libuv handle; it is not part of the typed API.
  const fd = (side.socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** Resolves once everything written to the socket so far has reached the kernel. */
function flushed(socket: Socket): Promise<void> | undefined {
  if (socket.writableLength === 0) return undefined;
  // An empty write's callback runs after every write queued before it.
  return new Promise((resolve) => socket.write(EMPTY, () => resolve()));
}

/** The side's pending bytes, then what Node has read from its socket that nobody consumed yet. */
function takeUnsent(side: SpliceSide): Buffer {
  const { socket } = side;
  const chunks: Buffer[] = side.pending.length > 0 ? [side.pending] : [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    chunks.push(chunk);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

function kernelSplice(
  native: LoadedAddon,
  sideA: SpliceSide,
  sideB: SpliceSide,
  options: SpliceOptions,
): Splice {
  const fdA = tcpDescriptor(sideA);
  const fdB = tcpDescriptor(sideB);
  if (fdA === undefined || fdB === undefined) return spliceStreams(sideA, sideB, options);
  return new KernelPair(native, [sideA, sideB], [fdA, fdB], options);
}

/**
 * One pair handed to the splice thread. Until the handover it holds the two sides; after
 * it, only the addon's id, so an idle pair keeps no JavaScript socket alive.
 */
class KernelPair implements Splice {
  readonly done: Promise<SpliceResult>;
  readonly #native: LoadedAddon;
  #resolve!: (result: SpliceResult) => void;
  #result: SpliceResult | undefined;
  /** The JS sides, until the handover (or an end before it). */
  #sides: readonly [SpliceSide, SpliceSide] | undefined;
  #id: number | undefined;
  /** Set by stop() once the addon holds the pair: the reason its "stopped" end reports. */
  #stopReason: SpliceEndReason = "stopped";
  readonly #stopIdleWatch: () => void;
  // A side that errors or closes before the handover is a reset, as in the JS splice.
  readonly #vanished = () => this.#endBeforeHandover("reset");

  constructor(
    native: LoadedAddon,
    sides: readonly [SpliceSide, SpliceSide],
    fds: readonly [number, number],
    options: SpliceOptions,
  ) {
    this.#native = native;
    this.#sides = sides;
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    const [a, b] = sides;
    for (const { socket } of sides) socket.on("error", this.#vanished).on("close", this.#vanished);
    // Before the handover the pair is as old as it is quiet.
    const started = Date.now();
    this.#stopIdleWatch = watchIdle(
      options.idleTimeoutMs,
      () => (this.#id === undefined ? Date.now() - started : native.addon.idleMs(this.#id)),
      () => this.stop("idle_timeout"),
    );
    const pendingA = flushed(a.socket);
    const pendingB = flushed(b.socket);
    if (pendingA === undefined && pendingB === undefined) this.#handOver(fds);
    else void Promise.all([pendingA, pendingB]).then(() => this.#handOver(fds));
  }

  bytes(): number {
    if (this.#result) return this.#result.aToB + this.#result.bToA;
    return this.#id === undefined ? 0 : Math.max(0, this.#native.addon.bytes(this.#id));
  }

  stop(reason: SpliceEndReason): void {
    if (this.#result) return;
    if (this.#id === undefined) {
      this.#endBeforeHandover(reason);
      return;
    }
    this.#stopReason = reason;
    // Every end the data plane asks for is a reset (see endBoth in splice.ts).
    this.#native.addon.stop(this.#id, true);
  }

  /** The splice thread's report of this pair's end. */
  ended(kind: number, aToB: number, bToA: number): void {
    this.#finish(
      kind === END_CLOSED ? "closed" : kind === END_RESET ? "reset" : this.#stopReason,
      aToB,
      bToA,
    );
  }

  /**
   * Teardown order of the handover: (1) every write JavaScript queued (PAIRED) has reached
   * the kernel, or the kernel's bytes would overtake it. Then in one synchronous run, so
   * libuv reads nothing in between: (2) the side's pending bytes, then what Node read and
   * nobody consumed, become the head of the other direction; (3) the addon dup()s both
   * descriptors; (4) the JS sockets are destroyed: libuv stops polling and closes its
   * descriptors, and since the duplicates keep the sockets open, the connections see
   * nothing (no FIN, no RST); (5) the splice thread polls the duplicates from then on.
   */
  #handOver([fdA, fdB]: readonly [number, number]): void {
    const sides = this.#sides;
    if (this.#result || sides === undefined) return;
    const [a, b] = sides;
    const headToB = takeUnsent(a);
    const headToA = takeUnsent(b);
    try {
      this.#id = this.#native.addon.open(fdA, fdB, headToA, headToB);
    } catch {
      // No descriptor to spare for the duplicates (EMFILE): end it as the JS splice ends a
      // pair whose socket fails.
      this.#endBeforeHandover("reset");
      return;
    }
    this.#native.ends.set(this.#id, this);
    this.#letGo();
    a.socket.destroy();
    b.socket.destroy();
  }

  /** Before the handover the sockets are still JavaScript's to end. */
  #endBeforeHandover(reason: SpliceEndReason): void {
    const sides = this.#sides;
    if (this.#result || sides === undefined) return;
    this.#letGo();
    endBoth(sides[0], sides[1], reason);
    this.#finish(reason, 0, 0);
  }

  #letGo(): void {
    for (const { socket } of this.#sides ?? [])
      socket.off("error", this.#vanished).off("close", this.#vanished);
    this.#sides = undefined;
  }

  #finish(reason: SpliceEndReason, aToB: number, bToA: number): void {
    if (this.#result) return;
    this.#stopIdleWatch();
    this.#result = { reason, aToB, bToA };
    this.#resolve(this.#result);
  }
}
