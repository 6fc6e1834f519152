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

let loaded: { addon: SpliceAddon; ends: Map<number, EndHandler> } | string | undefined;

type EndHandler = (kind: number, aToB: number, bToA: number) => void;

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
function loadAddon(): { addon: SpliceAddon; ends: Map<number, EndHandler> } | string {
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
    const ends = new Map<number, EndHandler>();
    addon.start((id, kind, _errno, aToB, bToA) => {
      const end = ends.get(id);
      ends.delete(id);
      end?.(kind, aToB, bToA);
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
  const { addon, ends } = native;
  return {
    path: "kernel",
    splice: (a, b, options) => kernelSplice(addon, ends, a, b, options),
    stats: () => addon.stats(),
    maxIdlePipes: addon.maxIdlePipes,
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
  addon: SpliceAddon,
  ends: Map<number, EndHandler>,
  sideA: SpliceSide,
  sideB: SpliceSide,
  options: SpliceOptions,
): Splice {
  const fdA = tcpDescriptor(sideA);
  const fdB = tcpDescriptor(sideB);
  if (fdA === undefined || fdB === undefined) return spliceStreams(sideA, sideB, options);
  const a: Socket = sideA.socket;
  const b: Socket = sideB.socket;

  const started = Date.now();
  let id: number | undefined;
  let result: SpliceResult | undefined;
  /** Set by stop() once the addon holds the pair: the reason its "stopped" end reports. */
  let stopReason: SpliceEndReason = "stopped";
  let resolveDone!: (result: SpliceResult) => void;
  const done = new Promise<SpliceResult>((resolve) => {
    resolveDone = resolve;
  });
  const finish = (reason: SpliceEndReason, aToB: number, bToA: number) => {
    if (result) return;
    stopIdleWatch();
    result = { reason, aToB, bToA };
    resolveDone(result);
  };
  /** Before the handover the sockets are still JavaScript's to end. */
  const finishBeforeHandover = (reason: SpliceEndReason) => {
    if (result) return;
    unwatch();
    endBoth(sideA, sideB, reason);
    finish(reason, 0, 0);
  };
  // A side that errors or closes before the handover is a reset, as in the JS splice.
  const vanished = () => finishBeforeHandover("reset");
  const unwatch = () => {
    a.off("error", vanished).off("close", vanished);
    b.off("error", vanished).off("close", vanished);
  };
  a.on("error", vanished).on("close", vanished);
  b.on("error", vanished).on("close", vanished);

  /**
   * Teardown order of the handover: (1) every write JavaScript queued (PAIRED) has reached
   * the kernel, or the kernel's bytes would overtake it. Then in one synchronous run, so
   * libuv reads nothing in between: (2) the side's pending bytes, then what Node read and
   * nobody consumed, become the head of the other direction; (3) the addon dup()s both
   * descriptors; (4) the JS sockets are destroyed: libuv stops polling and closes its
   * descriptors, and since the duplicates keep the sockets open, the connections see
   * nothing (no FIN, no RST); (5) the splice thread polls the duplicates from then on.
   */
  const handOver = () => {
    if (result) return;
    const headToB = takeUnsent(sideA);
    const headToA = takeUnsent(sideB);
    try {
      id = addon.open(fdA, fdB, headToA, headToB);
    } catch {
      // No descriptor to spare for the duplicates (EMFILE): end it as the JS splice ends a
      // pair whose socket fails.
      finishBeforeHandover("reset");
      return;
    }
    ends.set(id, (kind, aToB, bToA) =>
      finish(kind === END_CLOSED ? "closed" : kind === END_RESET ? "reset" : stopReason, aToB, bToA),
    );
    unwatch();
    a.destroy();
    b.destroy();
  };
  // Before the handover the pair is as old as it is quiet; after its end, nothing to watch.
  const stopIdleWatch = watchIdle(
    options.idleTimeoutMs,
    () => (id === undefined ? Date.now() - started : addon.idleMs(id)),
    () => stop("idle_timeout"),
  );
  const pendingA = flushed(a);
  const pendingB = flushed(b);
  if (pendingA === undefined && pendingB === undefined) handOver();
  else void Promise.all([pendingA, pendingB]).then(handOver);

  const stop = (reason: SpliceEndReason) => {
    if (result) return;
    if (id === undefined) finishBeforeHandover(reason);
    else {
      stopReason = reason;
      // Every end the data plane asks for is a reset (see endBoth in splice.ts).
      addon.stop(id, true);
    }
  };
  const bytes = () => {
    if (result) return result.aToB + result.bToA;
    return id === undefined ? 0 : Math.max(0, addon.bytes(id));
  };
  return { done, bytes, stop };
}
