/**
 * Kernel splice for plain-TCP pairs: once both sockets are handed over, the native addon
 * (native/splice/) moves their bytes with splice(2) on one thread of its own, and the
 * JavaScript thread sees a pair again only when it ends. Same promises and the same Splice
 * handle as the JS splice (splice.ts), which stays the fallback: for any pair whose
 * streams are not both plain TCP sockets, and for every pair when the addon is not built
 * or is turned off. See docs/data-plane.md ("Kernel splice").
 */
import { createRequire } from "node:module";
import { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { Splice, SpliceEndReason, SpliceResult, SpliceSide } from "./splice.ts";
import { splice as jsSplice } from "./splice.ts";

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

const ADDON_PATH = "../native/splice/build/Release/flock_splice.node";
const EMPTY = Buffer.alloc(0);

export type SpliceOptions = { idleTimeoutMs: number };
export type Splicer = (sideA: SpliceSide, sideB: SpliceSide, options: SpliceOptions) => Splice;

/** Which splice a data plane uses for its tcp pairs, and why when it is not the kernel's. */
export type SplicerChoice =
  | { path: "kernel"; splice: Splicer; stats: () => ReturnType<SpliceAddon["stats"]>; maxIdlePipes: number }
  | { path: "js"; splice: Splicer; why: string };

let loaded: { addon: SpliceAddon; ends: Map<number, EndHandler> } | string | undefined;

type EndHandler = (kind: number, aToB: number, bToA: number) => void;

/** Loads and starts the addon once per process; a string says why it cannot be used. */
function loadAddon(): { addon: SpliceAddon; ends: Map<number, EndHandler> } | string {
  if (loaded !== undefined) return loaded;
  if (process.platform !== "linux") {
    loaded = "splice(2) is Linux-only";
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as SpliceAddon;
    const ends = new Map<number, EndHandler>();
    addon.start((id, kind, _errno, aToB, bToA) => {
      const end = ends.get(id);
      ends.delete(id);
      end?.(kind, aToB, bToA);
    });
    loaded = { addon, ends };
  } catch (error) {
    loaded = `the native addon is not built or does not load (${(error as Error).message.split("\n")[0]}); build it with: node native/splice/install.mjs`;
  }
  return loaded;
}

/**
 * The data plane's choice, made once at start. `wanted` false (FLOCK_NATIVE_SPLICE=0)
 * forces the JS splice.
 */
export function chooseSplicer(wanted: boolean): SplicerChoice {
  if (!wanted) return { path: "js", splice: jsSplice, why: "turned off (FLOCK_NATIVE_SPLICE=0)" };
  const native = loadAddon();
  if (typeof native === "string") return { path: "js", splice: jsSplice, why: native };
  const { addon, ends } = native;
  return {
    path: "kernel",
    splice: (a, b, options) => kernelSplice(addon, ends, a, b, options),
    stats: () => addon.stats(),
    maxIdlePipes: addon.maxIdlePipes,
  };
}

/** The descriptor of a plain TCP socket (not TLS, not a WebSocket stream), or undefined. */
function tcpDescriptor(stream: SpliceSide["stream"]): number | undefined {
  if (!(stream instanceof Socket) || stream instanceof TLSSocket) return undefined;
  // Node keeps the descriptor on the libuv handle; it is not part of the typed API.
  const fd = (stream as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** Resolves once everything written to the socket so far has reached the kernel. */
function flushed(socket: Socket): Promise<void> | undefined {
  if (socket.writableLength === 0) return undefined;
  // An empty write's callback runs after every write queued before it.
  return new Promise((resolve) => socket.write(EMPTY, () => resolve()));
}

/** Takes what Node has read from the socket but nobody consumed yet (unshifted early bytes too). */
function takeBuffered(socket: Socket): Buffer {
  const chunks: Buffer[] = [];
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
  const fdA = tcpDescriptor(sideA.stream);
  const fdB = tcpDescriptor(sideB.stream);
  if (fdA === undefined || fdB === undefined) return jsSplice(sideA, sideB, options);
  const a = sideA.stream as Socket;
  const b = sideB.stream as Socket;

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
    clearTimeout(idleTimer);
    result = { reason, aToB, bToA };
    resolveDone(result);
  };
  /** Before the handover the sockets are still JavaScript's to end. */
  const finishBeforeHandover = (reason: SpliceEndReason) => {
    if (result) return;
    a.off("error", vanished).off("close", vanished);
    b.off("error", vanished).off("close", vanished);
    if (reason === "reset") {
      sideA.reset();
      sideB.reset();
    } else {
      a.destroy();
      b.destroy();
    }
    finish(reason, 0, 0);
  };
  // A side that errors or closes before the handover is a reset, as in the JS splice.
  const vanished = () => finishBeforeHandover("reset");
  a.on("error", vanished).on("close", vanished);
  b.on("error", vanished).on("close", vanished);

  /**
   * Teardown order of the handover, all in one synchronous run so libuv reads nothing in
   * between: (1) every write JavaScript queued (PAIRED) has reached the kernel, or the
   * kernel's bytes would overtake it; (2) what Node read but nobody consumed is taken and
   * becomes the head of the other direction; (3) the addon dup()s both descriptors;
   * (4) the JS sockets are destroyed: libuv stops polling and closes its descriptors, and
   * since the addon's duplicates keep the sockets open, the connections see nothing (no
   * FIN, no RST); (5) the splice thread polls its duplicates from then on.
   */
  const handOver = () => {
    if (result) return;
    const headToB = takeBuffered(a);
    const headToA = takeBuffered(b);
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
    a.off("error", vanished).off("close", vanished);
    b.off("error", vanished).off("close", vanished);
    a.destroy();
    b.destroy();
  };
  const pendingA = flushed(a);
  const pendingB = flushed(b);
  if (pendingA === undefined && pendingB === undefined) handOver();
  else void Promise.all([pendingA, pendingB]).then(handOver);

  // One timer per pair, re-armed for the remaining time, as in the JS splice.
  const checkIdle = () => {
    const idleMs = id === undefined ? Date.now() - started : addon.idleMs(id);
    if (idleMs >= options.idleTimeoutMs) stop("idle_timeout");
    else if (idleMs >= 0) idleTimer = setTimeout(checkIdle, options.idleTimeoutMs - idleMs);
  };
  let idleTimer = setTimeout(checkIdle, options.idleTimeoutMs);

  const stop = (reason: SpliceEndReason) => {
    if (result) return;
    if (id === undefined) finishBeforeHandover(reason);
    else {
      stopReason = reason;
      addon.stop(id, reason === "reset");
    }
  };
  const bytes = () => {
    if (result) return result.aToB + result.bToA;
    return id === undefined ? 0 : Math.max(0, addon.bytes(id));
  };
  return { done, bytes, stop };
}
