/**
 * `npm run bench relay-cpu`: a relay's CPU seconds per GB (10^9 bytes) of one spliced pair,
 * the data plane's beside the relays it must match, all in one run:
 *
 * - tcp: the data plane with the kernel splice and with the JS splice (FLOCK_NATIVE_SPLICE=0),
 *   haproxy in tcp mode (its default, and with its own splicing on), a bare Node pipe() relay;
 * - tls: the data plane (TLS terminated on both legs), haproxy terminating TLS on both legs,
 *   a bare Node TLS-terminating relay (the JS path's goal is within 1.2× of it);
 * - ws: the data plane, a bare Node WebSocket relay (ws on both legs).
 *
 * The bare relays (relay-cpu/children.ts) are the data plane without Flock: both parties
 * dial in, and pipe() joins them. haproxy can only dial the receiver itself.
 *
 * Each relay runs alone in its own process; its CPU time (all threads, /proc) is read over
 * the transfer alone, after the pair is set up, and so are a Node relay's V8 mark-compacts.
 * Each relay first gets idle pairs that stay open, so its heap is that of a relay in use: a
 * Node process whose heap is above V8's 8 MB marking threshold and that reads fresh
 * ArrayBuffers in bulk can fall into a mark-compact after every scavenge, which V8's old
 * generation held up (`--initial-old-space-size`) keeps it out of (docs/benchmarks.md, "Relay
 * CPU per GB"); every Node relay runs with V8's defaults and again with each size asked for
 * (`<variant>-old<MB>`). Rounds interleave the variants, in turn forwards and backwards, and
 * the rows are medians, ratios taken within a round. haproxy (one thread) is skipped, with a
 * note, when it is not installed. Every row is also written with the run's date and versions
 * to FLOCK_BENCH_RELAY_CPU_JSON (default bench/results/relay-cpu.json; docs/benchmarks.md).
 *
 * FLOCK_BENCH_CPU_BYTES (default 1 GiB per variant and round), FLOCK_BENCH_CPU_ROUNDS
 * (default 3), FLOCK_BENCH_CPU_VARIANTS (comma list, e.g. tcp-flock-kernel,tcp-haproxy),
 * FLOCK_BENCH_CPU_IDLE_PAIRS (default 400; 0 for none), FLOCK_BENCH_CPU_OLD_SPACE (sizes in MB,
 * comma list, default 64; empty for none), FLOCK_BENCH_CPU_PROF (a folder: Node relays run
 * with --cpu-prof and write profiles there).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { percentile } from "../cli/commands/ping.ts";
import { envNumber } from "./lib/env.ts";
import type { Transport } from "./relay-cpu/load.ts";
import { flockPair, Receivers, rendezvousPair, transfer } from "./relay-cpu/load.ts";
import type { HaproxyMode, Relay } from "./relay-cpu/relays.ts";
import { cpuSeconds, haproxyVersion, startChild, startFlockRelay, startHaproxy } from "./relay-cpu/relays.ts";
import type { Bench, BenchResult } from "./types.ts";

const BENCH = "relay-cpu";
const WARM_UP_BYTES = 64 * 1024 * 1024;
/** Pairs each relay holds idle (FLOCK_BENCH_CPU_IDLE_PAIRS): at 13 KB of heap per tls pair, 5 MB over its 7 MB. */
const DEFAULT_IDLE_PAIRS = 400;
/** Sizes of the held-up old generation each Node relay also runs with (FLOCK_BENCH_CPU_OLD_SPACE). */
const DEFAULT_OLD_SPACE_MB = "64";
/** Idle pairs dialed at once (FLOCK_BENCH_CPU_IDLE_PAIRS): few enough not to meet the handshake limit per source. */
const IDLE_DIAL_BATCH = 16;
const DEFAULT_JSON = fileURLToPath(new URL("./results/relay-cpu.json", import.meta.url));

interface Variant {
  name: string;
  transport: Transport;
  /** How its two parties meet: Flock's handshake, in a row (bare relays), or haproxy dialing. */
  meet: "flock" | "rendezvous" | "dialed";
  /** The variant this one is, with other Node flags (heap variants), for a per-round ratio. */
  base?: string;
  start(): Promise<Relay>;
}

/** A Node relay variant again with `--initial-old-space-size=<mb>`, for each size asked. */
function heapVariants(
  variant: Variant,
  sizesMb: number[],
  start: (nodeArgs: string[]) => () => Promise<Relay>,
) {
  return [
    variant,
    ...sizesMb.map((mb) => ({
      ...variant,
      name: `${variant.name}-old${mb}`,
      base: variant.name,
      start: start([`--initial-old-space-size=${mb}`]),
    })),
  ];
}

/** Variant → the one it is compared with, under the metric name of the ratio. */
const RATIOS: Array<[string, string, string]> = [
  ["tcp-flock-kernel", "tcp-haproxy", "ratio_to_haproxy"],
  ["tcp-flock-kernel", "tcp-haproxy-splice", "ratio_to_haproxy_splice"],
  ["tcp-flock-kernel", "tcp-flock-js", "ratio_to_js_splice"],
  ["tcp-flock-js", "tcp-haproxy", "ratio_to_haproxy"],
  ["tcp-flock-js", "tcp-node-relay", "ratio_to_node_relay"],
  ["tls-flock", "tls-haproxy", "ratio_to_haproxy"],
  ["tls-flock", "tls-node-relay", "ratio_to_node_relay"],
  ["ws-flock", "ws-node-relay", "ratio_to_node_relay"],
];

/**
 * Each heap variant against V8's defaults, and against the yardsticks of RATIOS: a Node one
 * run with the same flags, haproxy as it is (it takes no V8 flags, and the data plane image
 * runs `-old64`, so that is the ratio to haproxy of a relay as deployed).
 */
export function heapRatios(
  all: ReadonlyArray<{ name: string; base?: string }>,
  sizesMb: readonly number[],
): Array<[string, string, string]> {
  const names = new Set(all.map((v) => v.name));
  return sizesMb.flatMap((mb) => [
    ...all.flatMap(
      (v): Array<[string, string, string]> =>
        v.base !== undefined && v.name.endsWith(`-old${mb}`)
          ? [[v.name, v.base, "ratio_to_v8_defaults"]]
          : [],
    ),
    ...RATIOS.map(([variant, base, metric]): [string, string, string] => {
      const sameFlags = `${base}-old${mb}`;
      return [`${variant}-old${mb}`, names.has(sameFlags) ? sameFlags : base, metric];
    }),
  ]);
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The data plane runs compiled, as deployed: dist/ and the addon are brought up to date first. */
function buildFlock(): void {
  execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });
  execFileSync(process.execPath, [join(root, "native", "splice", "install.mjs"), "--if-stale"], {
    stdio: "inherit",
  });
}

export const run: Bench = async () => {
  buildFlock();
  const bytes = envNumber("FLOCK_BENCH_CPU_BYTES", 1024 * 1024 * 1024);
  const rounds = envNumber("FLOCK_BENCH_CPU_ROUNDS", 3);
  const only = process.env.FLOCK_BENCH_CPU_VARIANTS?.split(",");
  const profileDir = process.env.FLOCK_BENCH_CPU_PROF;
  const idlePairs =
    process.env.FLOCK_BENCH_CPU_IDLE_PAIRS === "0"
      ? 0
      : envNumber("FLOCK_BENCH_CPU_IDLE_PAIRS", DEFAULT_IDLE_PAIRS);
  const { makeCa, issueParty, issueRelay } = await import("../test/helpers/dataplane-fixtures.ts");
  const ca = await makeCa("Bench Relay CA");
  const relayCert = await issueRelay(ca, "bench");
  const [alice, bob] = await Promise.all([issueParty(ca, "bench", "a"), issueParty(ca, "bench", "b")]);
  const receivers = new Receivers();
  await receivers.start(relayCert);
  const upstream = (t: Transport) => receivers.ports.get(t) as number;
  const tlsPair = { certPem: relayCert.certPem, keyPem: relayCert.keyPem };
  const oldSpaceMb = (process.env.FLOCK_BENCH_CPU_OLD_SPACE ?? DEFAULT_OLD_SPACE_MB)
    .split(",")
    .filter(Boolean)
    .map(Number);
  const flock = (kernelSplice: boolean) => (nodeArgs: string[]) => () =>
    startFlockRelay(kernelSplice, { relayCaPem: ca.certPem, ...tlsPair }, nodeArgs, profileDir);
  const bare = (kind: "node-tcp" | "node-tls" | "node-ws") => (nodeArgs: string[]) => () =>
    startChild({ kind, ...tlsPair }, nodeArgs, profileDir);
  const node = (
    name: string,
    transport: Transport,
    meet: Variant["meet"],
    start: (a: string[]) => () => Promise<Relay>,
  ) => heapVariants({ name, transport, meet, start: start([]) }, oldSpaceMb, start);
  const haproxy = haproxyVersion();
  const notes: string[] = [];
  if (!haproxy) notes.push("haproxy is not installed (apt-get install -y haproxy): its rows are skipped");

  const haproxyIn = (mode: HaproxyMode, t: Transport) => () => startHaproxy(mode, upstream(t), tlsPair);
  const all: Variant[] = [
    ...node("tcp-flock-kernel", "tcp", "flock", flock(true)),
    ...node("tcp-flock-js", "tcp", "flock", flock(false)),
    { name: "tcp-haproxy", transport: "tcp", meet: "dialed", start: haproxyIn("tcp", "tcp") },
    { name: "tcp-haproxy-splice", transport: "tcp", meet: "dialed", start: haproxyIn("tcp-splice", "tcp") },
    ...node("tcp-node-relay", "tcp", "rendezvous", bare("node-tcp")),
    ...node("tls-flock", "tls", "flock", flock(true)),
    { name: "tls-haproxy", transport: "tls", meet: "dialed", start: haproxyIn("tls", "tls") },
    ...node("tls-node-relay", "tls", "rendezvous", bare("node-tls")),
    ...node("ws-flock", "ws", "flock", flock(true)),
    ...node("ws-node-relay", "ws", "rendezvous", bare("node-ws")),
  ];
  const variants = all.filter(
    (v) =>
      (only === undefined || only.includes(v.name)) && (haproxy !== undefined || !v.name.includes("haproxy")),
  );

  const relays = new Map<string, Relay>();
  const cpu = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const mbps = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const markCompacts = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  let pairs = 0;
  const pairOn = (variant: Variant, relay: Relay) =>
    variant.meet === "flock"
      ? flockPair(relay.port, variant.transport, ca.certPem, alice, bob, `t${pairs++}`)
      : variant.meet === "rendezvous"
        ? rendezvousPair(relay.port, variant.transport)
        : receivers.pair(relay.port, variant.transport);
  const idle: Duplex[] = [];
  /** Pairs that stay open and silent, so the relay holds what a busy one holds (haproxy: none). */
  const holdIdlePairs = async (variant: Variant, relay: Relay) => {
    if (variant.meet === "dialed") return;
    for (let held = 0; held < idlePairs; held += IDLE_DIAL_BATCH) {
      const batch = Math.min(IDLE_DIAL_BATCH, idlePairs - held);
      // Bare relays join connections in the order they arrive, so their pairs are dialed one by one.
      if (variant.meet === "rendezvous") {
        for (let i = 0; i < batch; i++) idle.push(...(await pairOn(variant, relay)));
      } else {
        const dialed = await Promise.all(Array.from({ length: batch }, () => pairOn(variant, relay)));
        idle.push(...dialed.flat());
      }
    }
  };
  const once = async (variant: Variant, relay: Relay, size: number) => {
    const [from, to] = await pairOn(variant, relay);
    const cpuBefore = cpuSeconds(relay.pid);
    const marksBefore = relay.markCompacts?.();
    const started = performance.now();
    await transfer(from, to, size);
    const seconds = (performance.now() - started) / 1000;
    const cpuUsed = cpuSeconds(relay.pid) - cpuBefore;
    const marks = marksBefore === undefined ? undefined : (relay.markCompacts?.() ?? 0) - marksBefore;
    from.destroy();
    to.destroy();
    const gb = size / 1e9;
    return {
      cpuPerGb: cpuUsed / gb,
      mbPerSecond: size / 1e6 / seconds,
      markCompactsPerGb: marks === undefined ? undefined : marks / gb,
    };
  };
  try {
    for (const variant of variants) {
      const relay = await variant.start();
      relays.set(variant.name, relay);
      if (variant.name === "tcp-flock-kernel" && relay.splice !== "kernel") {
        notes.push(
          "tcp-flock-kernel ran the JS splice: the addon is not built (node native/splice/install.mjs)",
        );
      }
      await holdIdlePairs(variant, relay);
      await once(variant, relay, WARM_UP_BYTES); // JIT, TLS and buffers warm before anything is timed
    }
    const perRound: Array<Map<string, number>> = [];
    for (let round = 0; round < rounds; round++) {
      const thisRound = new Map<string, number>();
      // In turn forwards and backwards, so no variant always runs just after the same one.
      for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
        const result = await once(variant, relays.get(variant.name) as Relay, bytes);
        cpu.get(variant.name)?.push(result.cpuPerGb);
        mbps.get(variant.name)?.push(result.mbPerSecond);
        if (result.markCompactsPerGb !== undefined)
          markCompacts.get(variant.name)?.push(result.markCompactsPerGb);
        thisRound.set(variant.name, result.cpuPerGb);
      }
      perRound.push(thisRound);
    }
    const rows: BenchResult[] = [];
    const row = (variant: string, metric: string, value: number, unit: string) =>
      rows.push({ bench: BENCH, variant, metric, value, unit });
    for (const variant of variants) {
      row(variant.name, "cpu_s_per_gb", percentile(cpu.get(variant.name) ?? [], 50), "s/GB");
      row(variant.name, "mb_per_second", percentile(mbps.get(variant.name) ?? [], 50), "MB/s");
      const marks = markCompacts.get(variant.name) ?? [];
      if (marks.length > 0) row(variant.name, "mark_compacts_per_gb", percentile(marks, 50), "/GB");
    }
    for (const [variant, base, metric] of [...RATIOS, ...heapRatios(all, oldSpaceMb)]) {
      const ratios = perRound.flatMap((r) => {
        const mine = r.get(variant);
        const theirs = r.get(base);
        return mine === undefined || theirs === undefined ? [] : [mine / theirs];
      });
      if (ratios.length > 0) row(variant, metric, percentile(ratios, 50), "ratio");
    }
    for (const note of notes) process.stderr.write(`relay-cpu: ${note}\n`);
    const jsonPath = process.env.FLOCK_BENCH_RELAY_CPU_JSON ?? DEFAULT_JSON;
    mkdirSync(dirname(jsonPath), { recursive: true });
    const meta = {
      date: new Date().toISOString(),
      node: process.version,
      haproxy: haproxy ?? null,
      bytes,
      rounds,
    };
    // Every round's figure too: the machine is shared, and the spread says how far to trust a median.
    const samples = Object.fromEntries(
      variants.map((v) => [
        v.name,
        {
          cpu_s_per_gb: cpu.get(v.name),
          mb_per_second: mbps.get(v.name),
          mark_compacts_per_gb: markCompacts.get(v.name),
        },
      ]),
    );
    writeFileSync(jsonPath, `${JSON.stringify({ ...meta, notes, rows, samples }, null, 2)}\n`);
    process.stderr.write(`relay-cpu: results in ${jsonPath}\n`);
    return rows;
  } finally {
    for (const stream of idle) stream.destroy();
    await Promise.all([...relays.values()].map((r) => r.stop()));
    receivers.stop();
  }
};
