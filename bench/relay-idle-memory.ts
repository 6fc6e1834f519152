/**
 * RSS per idle pair in the data plane, on plain TCP (kernel splice, and the JS splice as
 * with FLOCK_NATIVE_SPLICE=0) and on TLS, each beside a bare Node relay holding the same
 * pairs (relay-idle-memory/relays.ts): what the data plane holds beyond it is Flock's own.
 * Each relay runs alone in a child process (measured there after a forced GC, before and
 * after the pairs are up), and the parties run in other child processes, so nothing but the
 * relay's own memory is counted. BENCH_IDLE_PAIRS sets the pair count (default 10000); it is
 * lowered to what the relay process's file descriptor limit allows (two sockets per pair)
 * and the row says so. BENCH_IDLE_VARIANTS (names, comma-separated) measures only those.
 * Figures are taken once memory has settled (see `settled`), with the young generation
 * capped (SEMI_SPACE_MB): RSS, the V8 heap in use and its pages, and native memory V8 knows. BENCH_IDLE_HEAP_SNAPSHOT (a folder) writes the relay's heap snapshot
 * once its pairs are up, to see what holds the memory. The rows also go to a JSON file,
 * BENCH_IDLE_JSON (default bench/results/relay-idle-memory.json; docs/benchmarks.md).
 */
import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Certs, IdleRelay, Variant } from "./relay-idle-memory/relays.ts";
import { dialPair, startIdleRelay } from "./relay-idle-memory/relays.ts";
import type { Bench, BenchResult } from "./types.ts";

const DEFAULT_PAIRS = 10_000;
/** File descriptors kept free in the relay process for everything that is not a pair socket. */
const SPARE_FDS = 256;
/** Pairs one party process opens (two sockets each), well under the per-process fd limit. */
const PAIRS_PER_CLIENT_PROCESS = 3_000;
/** Handshakes in flight at once per party process, so the listen backlog never overflows. */
const DIAL_CONCURRENCY = 32;
/**
 * Settling (see `settled`): the quiet first waited (V8's memory reducer starts after about
 * 8 s with little allocation), how often RSS is then sampled, what counts as still falling,
 * and how long at most.
 */
const SETTLE_QUIET_MS = 10_000;
const SETTLE_SAMPLE_MS = 2_000;
const SETTLED_FALL = 0.01;
const SETTLE_MAX_MS = 30_000;
/**
 * The young generation's cap in every child, in MB per semi-space (Node's default lets it
 * grow to 16). A burst of handshakes grows it to 32 MB, which V8 gives back only when its
 * allocation-rate heuristics say so, and a relay that idles as completely as this one often
 * never does: those pages are the process's, not any pair's, yet would be counted as theirs
 * (3 KB per pair at 10 000 pairs). Live objects are the same either way.
 */
const SEMI_SPACE_MB = 1;
const VARIANTS: readonly Variant[] = [
  { name: "tcp", relay: "flock", transport: "tcp", kernelSplice: true },
  { name: "tcp-js-splice", relay: "flock", transport: "tcp", kernelSplice: false },
  { name: "bare-node-tcp", relay: "bare", transport: "tcp", kernelSplice: false },
  { name: "tls", relay: "flock", transport: "tls", kernelSplice: true },
  { name: "bare-node-tls", relay: "bare", transport: "tls", kernelSplice: false },
];
const DEFAULT_JSON = fileURLToPath(new URL("./results/relay-idle-memory.json", import.meta.url));

type Message =
  | { kind: "start-relay"; certs: Certs; variant: Variant; snapshotName: string }
  | { kind: "relay-up"; port: number; memory: Settled }
  | { kind: "measure" }
  | { kind: "settled"; memory: Settled; pairs: number }
  | { kind: "dial"; certs: Certs; port: number; variant: Variant; from: number; count: number }
  | { kind: "dialed"; count: number };

const self = fileURLToPath(import.meta.url);

function openFileLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const soft = Number(line?.split(/\s+/)[3]);
  return Number.isFinite(soft) ? soft : 1024;
}

/** Memory once it stops falling: RSS, and the V8 heap in use. */
interface Settled {
  rss: number;
  heapUsed: number;
  /** The V8 heap's pages, used or not. */
  heapTotal: number;
  /** Memory V8 knows native objects hold (buffers' backing stores among it). */
  external: number;
}

/**
 * SETTLE_QUIET_MS of quiet, then forced GCs and RSS sampled every SETTLE_SAMPLE_MS until it
 * stops falling (at most SETTLE_MAX_MS). After a burst of handshakes V8 keeps the heap it
 * grew, and its memory reducer gives it back only after some seconds of quiet: without
 * waiting, that slack, which no idle pair holds, would be counted as theirs. The baseline is
 * taken the same way.
 */
async function settled(): Promise<Settled> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let last = Number.POSITIVE_INFINITY;
  const deadline = Date.now() + SETTLE_MAX_MS;
  await new Promise((resolve) => setTimeout(resolve, SETTLE_QUIET_MS));
  for (;;) {
    gc?.();
    gc?.();
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    if (rss >= last * (1 - SETTLED_FALL) || Date.now() >= deadline)
      return { rss, heapUsed, heapTotal, external };
    last = rss;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_SAMPLE_MS));
  }
}

function next<T extends Message["kind"]>(
  child: ChildProcess,
  kind: T,
): Promise<Extract<Message, { kind: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Message) => {
      if (message.kind !== kind) return;
      child.off("message", onMessage);
      resolve(message as Extract<Message, { kind: T }>);
    };
    child.on("message", onMessage);
    child.once("exit", (code) => reject(new Error(`bench child exited (${code}) before ${kind}`)));
  });
}

/**
 * This file compiled as the data plane is deployed (esbuild, as scripts/build.mjs does):
 * run through tsx, every function would carry a name property (tsx keeps names), a quarter
 * of an idle TLS pair's heap that no deployed relay has. Written beside the results so its
 * npm imports resolve from the repository's node_modules.
 */
async function compiledSelf(): Promise<string> {
  const { build } = await import("esbuild");
  const outfile = fileURLToPath(new URL("./results/relay-idle-memory-child.mjs", import.meta.url));
  await build({
    entryPoints: [self],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  });
  return outfile;
}

let compiled: Promise<string> | undefined;
const spawnChild = async () => {
  compiled ??= compiledSelf();
  return fork(await compiled, [], {
    execArgv: ["--expose-gc", `--max-semi-space-size=${SEMI_SPACE_MB}`],
    env: { ...process.env, BENCH_CHILD: "1" },
  });
};

async function measure(variant: Variant, certs: Certs, pairs: number): Promise<Settled> {
  const relay = await spawnChild();
  const children: ChildProcess[] = [relay];
  try {
    relay.send({
      kind: "start-relay",
      certs,
      variant,
      snapshotName: `${variant.name}-${pairs}`,
    } satisfies Message);
    const up = await next(relay, "relay-up");
    const dialers: Array<Promise<unknown>> = [];
    for (let from = 0; from < pairs; from += PAIRS_PER_CLIENT_PROCESS) {
      const client = await spawnChild();
      children.push(client);
      const count = Math.min(PAIRS_PER_CLIENT_PROCESS, pairs - from);
      client.send({ kind: "dial", certs, port: up.port, variant, from, count } satisfies Message);
      dialers.push(next(client, "dialed"));
    }
    await Promise.all(dialers);
    relay.send({ kind: "measure" } satisfies Message);
    const after = await next(relay, "settled");
    if (after.pairs !== pairs) throw new Error(`relay holds ${after.pairs} pairs, expected ${pairs}`);
    const per = (bytes: number) => bytes / pairs / 1024;
    const grown = (key: keyof Settled) => per(after.memory[key] - up.memory[key]);
    return {
      rss: grown("rss"),
      heapUsed: grown("heapUsed"),
      heapTotal: grown("heapTotal"),
      external: grown("external"),
    };
  } finally {
    for (const child of children) child.kill("SIGKILL");
  }
}

export const run: Bench = async () => {
  const { makeCa, issueParty, issueRelay } = await import("../test/helpers/dataplane-fixtures.ts");
  const ca = await makeCa("Bench Relay CA");
  const certs: Certs = {
    relayCaPem: ca.certPem,
    relay: await issueRelay(ca, "bench"),
    a: await issueParty(ca, "bench", "a"),
    b: await issueParty(ca, "bench", "b"),
  };
  const requested = Number(process.env.BENCH_IDLE_PAIRS ?? DEFAULT_PAIRS);
  const allowed = Math.floor((openFileLimit() - SPARE_FDS) / 2);
  const pairs = Math.min(requested, allowed);
  if (pairs < requested) {
    process.stderr.write(
      `relay-idle-memory: ${requested} pairs need ${requested * 2} fds; measuring ${pairs}\n`,
    );
  }
  const only = process.env.BENCH_IDLE_VARIANTS?.split(",");
  const rows: BenchResult[] = [];
  for (const variant of VARIANTS.filter((v) => only === undefined || only.includes(v.name))) {
    const kb = await measure(variant, certs, pairs);
    const row = (metric: string, value: number) =>
      rows.push({
        bench: "relay-idle-memory",
        variant: `${variant.name}-${pairs}-pairs`,
        metric,
        value,
        unit: "KB",
      });
    row("kb_per_pair", kb.rss);
    // The part of it that is JavaScript objects; the rest is native (sockets, TLS, the addon's pairs).
    row("kb_heap_per_pair", kb.heapUsed);
    // The V8 heap's pages, used or not: above heapUsed, the heap V8 has not given back.
    row("kb_heap_total_per_pair", kb.heapTotal);
    // Native memory V8 is told of (buffers' backing stores); OpenSSL's is not among it.
    row("kb_external_per_pair", kb.external);
  }
  const jsonPath = process.env.BENCH_IDLE_JSON ?? DEFAULT_JSON;
  mkdirSync(dirname(jsonPath), { recursive: true });
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    openssl: process.versions.openssl,
    pairs,
  };
  writeFileSync(jsonPath, `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
  process.stderr.write(`relay-idle-memory: results in ${jsonPath}\n`);
  return rows;
};

async function startRelay({ certs, variant, snapshotName }: Extract<Message, { kind: "start-relay" }>) {
  const { join } = await import("node:path");
  const relay: IdleRelay = await startIdleRelay(variant, certs);
  process.send?.({ kind: "relay-up", port: relay.port, memory: await settled() } satisfies Message);
  process.on("message", (message: Message) => {
    if (message.kind !== "measure") return;
    void (async () => {
      const memory = await settled();
      const snapshots = process.env.BENCH_IDLE_HEAP_SNAPSHOT;
      if (snapshots)
        (await import("node:v8")).writeHeapSnapshot(join(snapshots, `${snapshotName}.heapsnapshot`));
      process.send?.({ kind: "settled", memory, pairs: relay.pairs() } satisfies Message);
    })();
  });
}

async function dialPairs(message: Extract<Message, { kind: "dial" }>): Promise<void> {
  const held: unknown[] = [];
  let nextIndex = message.from;
  const end = message.from + message.count;
  await Promise.all(
    Array.from({ length: DIAL_CONCURRENCY }, async () => {
      while (nextIndex < end) held.push(await dialPair(message, nextIndex++));
    }),
  );
  process.send?.({ kind: "dialed", count: held.length } satisfies Message);
}

if (process.env.BENCH_CHILD === "1" && process.send) {
  process.on("message", (message: Message) => {
    if (message.kind === "start-relay") void startRelay(message);
    if (message.kind === "dial") void dialPairs(message);
  });
}
