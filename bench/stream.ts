/**
 * SDK wire version 2 (docs/stream.md), measured beside what it replaces:
 *
 * - throughput: raw (`stream.framing: false`), framed, and framed with `zeroCopyWrites`, first
 *   over one loopback connection with no relay (`direct-*`: framing's own cost), then over
 *   tcp through a data plane in a child process (`tcp-*`, as deployed). Each round runs the
 *   three back to back, in turn forwards and backwards, and the rows are medians of MB/s, of
 *   the endpoints' CPU seconds per GB (both endpoints run in one child process,
 *   lib/stream-endpoints.ts, away from this process's test system) and of the per-round
 *   ratios to raw. The writer cycles through 64 MiB of distinct 1 MiB buffers, as an
 *   application's fresh data would be, rather than one buffer that stays in cache.
 * - apart: the same three variants with the parties as deployed, sender and receiver each in
 *   a process of its own (lib/stream-party.ts), through the data plane on tcp: the receiver's
 *   throughput, each side's CPU per GB and V8 mark-compacts, per-round ratios to raw. `apart`
 *   runs both with V8's defaults, `apart-old64` with `--initial-old-space-size=64` (see
 *   APART_STAGES for why).
 * - resume: a pair in ticket mode behind a TCP proxy on the relay's address; the proxy resets
 *   both legs mid-transfer, and the time runs until both sides have resumed (fresh ticket,
 *   dial, handshake, mTLS, RESUME). p50 and p99.
 * - memory: channels whose reader stopped, each writer blocked with its window full: memory
 *   of this process (both ends of every channel) per channel, and the send buffer's share.
 *
 * Every row, every round's throughput figures, the date and the load average go to
 * FLOCK_BENCH_STREAM_JSON (default bench/results/stream.json; docs/benchmarks.md).
 * FLOCK_BENCH_BYTES (default 256 MiB per variant and round), FLOCK_BENCH_ROUNDS (5),
 * FLOCK_BENCH_RESUMES (40), FLOCK_BENCH_CHANNELS (32); FLOCK_BENCH_STREAM_STAGES picks stages
 * (default "direct,tcp,apart,apart-old64,resume,memory"). The one-process throughput rows give
 * user and kernel CPU apart, and minor page faults per GB.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { percentile } from "../cli/commands/ping.ts";
import type { Channel, ConnectEvent, StreamOptions } from "../client/connect.ts";
import { openChannel } from "../client/connect.ts";
import type { IdentityMaterials } from "../client/identity.ts";
import type { FramedStream } from "../client/stream/framed-stream.ts";
import { DEFAULT_WINDOW_BYTES } from "../client/stream/stream-limits.ts";
import type { FlockSystem } from "../test/helpers/system.ts";
import { startSystemWithPair } from "../test/helpers/system.ts";
import { startTcpProxy } from "../test/helpers/tcp-proxy.ts";
import type { Pumped } from "./lib/byte-pump.ts";
import { envNumber } from "./lib/env.ts";
import type { EndpointPath, Endpoints, Variant } from "./lib/stream-endpoints.ts";
import { startEndpoints, VARIANTS } from "./lib/stream-endpoints.ts";
import type { HalfPumped } from "./lib/stream-party.ts";
import { startParty } from "./lib/stream-party.ts";
import type { Bench, BenchResult } from "./types.ts";

const BENCH = "stream";
const MiB = 1024 * 1024;
const WRITE_BYTES = MiB;
const WARM_UP_BYTES = 32 * MiB;
const DEFAULT_JSON = fileURLToPath(new URL("./results/stream.json", import.meta.url));

const median = (values: number[]) => percentile(values, 50);
let channels = 0;

async function pair(
  alice: IdentityMaterials,
  bob: IdentityMaterials,
  stream: StreamOptions,
  onEvent?: (e: ConnectEvent) => void,
) {
  const channel = `bench-${++channels}`;
  const open = (identity: IdentityMaterials) =>
    openChannel({ identity, channel, stream, ...(onEvent ? { onEvent } : {}) });
  return Promise.all([open(alice), open(bob)]);
}

const NAMES = Object.keys(VARIANTS) as Variant[];

interface Throughput {
  rows: BenchResult[];
  samples: Record<Variant, Pumped[]>;
}

/** Rounds of every variant, in the endpoint process; rows named `${path}-${variant}`. */
async function throughput(path: EndpointPath, endpoints: Endpoints): Promise<Throughput> {
  const bytes = bulkBytes();
  const rounds = envNumber("FLOCK_BENCH_ROUNDS", 5);
  const samples = Object.fromEntries(NAMES.map((n) => [n, []])) as unknown as Record<Variant, Pumped[]>;
  const once = (name: Variant, size: number) => endpoints.pump(path, name, size);
  for (const name of NAMES) await once(name, WARM_UP_BYTES);
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? NAMES : [...NAMES].reverse()) {
      samples[name].push(await once(name, bytes));
    }
  }
  const rows: BenchResult[] = [];
  const row = (variant: string, metric: string, value: number, unit: string) =>
    rows.push({ bench: BENCH, variant, metric, value, unit });
  for (const name of NAMES) {
    const of = (metric: keyof Pumped) => median(samples[name].map((s) => s[metric]));
    row(`${path}-${name}`, "mb_per_second", of("mbPerSecond"), "MB/s");
    row(`${path}-${name}`, "cpu_s_per_gb", of("cpuPerGb"), "s/GB");
    row(`${path}-${name}`, "user_s_per_gb", of("userPerGb"), "s/GB");
    row(`${path}-${name}`, "sys_s_per_gb", of("sysPerGb"), "s/GB");
    row(`${path}-${name}`, "minor_faults_per_gb", of("minorFaultsPerGb"), "faults/GB");
  }
  // Per round, so a slow moment of the machine weighs on both variants alike.
  for (const name of NAMES.filter((n) => n !== "raw")) {
    const ratio = (metric: keyof Pumped) =>
      median(samples[name].map((s, i) => s[metric] / (samples.raw[i] as Pumped)[metric]));
    row(`${path}-${name}/raw`, "throughput_ratio", ratio("mbPerSecond"), "×");
    row(`${path}-${name}/raw`, "cpu_ratio", ratio("cpuPerGb"), "×");
    row(`${path}-${name}/raw`, "user_ratio", ratio("userPerGb"), "×");
    row(`${path}-${name}/raw`, "sys_ratio", ratio("sysPerGb"), "×");
  }
  return { rows, samples };
}

/**
 * V8 flags of the two party processes for each "apart" stage. A receiving Node process with a
 * small heap can fall into a mark-compact after every scavenge (each TLS record read is a fresh
 * ArrayBuffer, docs/benchmarks.md), raw and framed alike and at random; the held-up old
 * generation keeps it out, which leaves framing's own cost to compare.
 */
const APART_STAGES = {
  apart: [],
  "apart-old64": ["--initial-old-space-size=64"],
} satisfies Record<string, string[]>;
type ApartStage = keyof typeof APART_STAGES;

interface ApartRound {
  sender: HalfPumped;
  receiver: HalfPumped;
}

/**
 * The parties as deployed, each in a process of its own, through the data plane on tcp:
 * throughput (the receiver's), each side's CPU per GB and mark-compacts, rounds alternating
 * the variants as `throughput` does.
 */
async function apart(
  stage: ApartStage,
  alice: IdentityMaterials,
  bob: IdentityMaterials,
): Promise<{ rows: BenchResult[]; samples: Record<Variant, ApartRound[]> }> {
  const execArgv = APART_STAGES[stage];
  const [sender, receiver] = await Promise.all([
    startParty("send", alice, execArgv),
    startParty("receive", bob, execArgv),
  ]);
  const samples = Object.fromEntries(NAMES.map((n) => [n, []])) as unknown as Record<Variant, ApartRound[]>;
  try {
    const once = async (name: Variant, size: number): Promise<ApartRound> => {
      const channel = `bench-${stage}-${++channels}`;
      const [s, r] = await Promise.all([
        sender.pump(name, channel, size),
        receiver.pump(name, channel, size),
      ]);
      return { sender: s, receiver: r };
    };
    for (const name of NAMES) await once(name, WARM_UP_BYTES);
    for (let round = 0; round < envNumber("FLOCK_BENCH_ROUNDS", 5); round++) {
      for (const name of round % 2 === 0 ? NAMES : [...NAMES].reverse()) {
        samples[name].push(await once(name, bulkBytes()));
      }
    }
  } finally {
    sender.stop();
    receiver.stop();
  }
  const rows: BenchResult[] = [];
  const row = (variant: string, metric: string, value: number, unit: string) =>
    rows.push({ bench: BENCH, variant, metric, value, unit });
  const figures = {
    mb_per_second: [(r: ApartRound) => r.receiver.mbPerSecond ?? 0, "MB/s"],
    receiver_cpu_s_per_gb: [(r: ApartRound) => r.receiver.cpuPerGb, "s/GB"],
    sender_cpu_s_per_gb: [(r: ApartRound) => r.sender.cpuPerGb, "s/GB"],
    receiver_mark_compacts_per_gb: [(r: ApartRound) => r.receiver.markCompactsPerGb, "/GB"],
    sender_mark_compacts_per_gb: [(r: ApartRound) => r.sender.markCompactsPerGb, "/GB"],
  } as const;
  for (const name of NAMES) {
    for (const [metric, [of, unit]] of Object.entries(figures)) {
      row(`${stage}-${name}`, metric, median(samples[name].map(of)), unit);
    }
  }
  for (const name of NAMES.filter((n) => n !== "raw")) {
    const ratio = (of: (r: ApartRound) => number) =>
      median(samples[name].map((s, i) => of(s) / of(samples.raw[i] as ApartRound)));
    row(`${stage}-${name}/raw`, "throughput_ratio", ratio(figures.mb_per_second[0]), "×");
    row(`${stage}-${name}/raw`, "receiver_cpu_ratio", ratio(figures.receiver_cpu_s_per_gb[0]), "×");
    row(`${stage}-${name}/raw`, "sender_cpu_ratio", ratio(figures.sender_cpu_s_per_gb[0]), "×");
  }
  return { rows, samples };
}

const bulkBytes = () => Math.floor(envNumber("FLOCK_BENCH_BYTES", 256 * MiB) / WRITE_BYTES) * WRITE_BYTES;

async function resumeTimes(
  system: FlockSystem,
  alice: IdentityMaterials,
  bob: IdentityMaterials,
): Promise<BenchResult[]> {
  const relay = await system.registerRelay("bench-stream-resume");
  const dataPlane = await system.runDataPlane(relay, undefined, 0);
  const proxy = await startTcpProxy(relay.port, dataPlane);
  const times: number[] = [];
  try {
    for (let i = 0; i < envNumber("FLOCK_BENCH_RESUMES", 40); i++) {
      let resumed = 0;
      let onBoth!: () => void;
      const both = new Promise<void>((resolve) => {
        onBoth = resolve;
      });
      const [a, b] = await pair(alice, bob, {}, (e) => {
        if (e.type === "resumed" && ++resumed === 2) onBoth();
      });
      try {
        b.socket.resume();
        a.socket.write(randomBytes(256 * 1024));
        await new Promise((resolve) => b.socket.once("data", resolve));
        const started = performance.now();
        if (proxy.resetAll() === 0) throw new Error("the pair does not run through the proxy");
        await both;
        times.push(performance.now() - started);
      } finally {
        a.socket.destroy();
        b.socket.destroy();
      }
    }
  } finally {
    await proxy.close();
    await dataPlane.stop();
  }
  return [
    {
      bench: BENCH,
      variant: "resume-after-reset",
      metric: "p50_ms",
      value: percentile(times, 50),
      unit: "ms",
    },
    {
      bench: BENCH,
      variant: "resume-after-reset",
      metric: "p99_ms",
      value: percentile(times, 99),
      unit: "ms",
    },
  ];
}

/** A full garbage collection, so memory figures count what is live (bench/run.ts has no --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

async function memory(alice: IdentityMaterials, bob: IdentityMaterials): Promise<BenchResult[]> {
  const count = envNumber("FLOCK_BENCH_CHANNELS", 32);
  const open: Channel[] = [];
  const chunk = randomBytes(WRITE_BYTES);
  collectGarbage();
  const before = process.memoryUsage();
  let sendBuffers = 0;
  for (let i = 0; i < count; i++) {
    const [writer, reader] = await pair(alice, bob, {});
    open.push(writer, reader);
    reader.socket.pause();
    const stream = writer.socket as FramedStream;
    // Write until the window is full and the writer is told to wait.
    while (stream.sendBuffered.held < DEFAULT_WINDOW_BYTES) {
      if (!stream.write(chunk)) {
        await Promise.race([
          new Promise((resolve) => stream.once("drain", resolve)),
          new Promise((resolve) => setTimeout(resolve, 200)),
        ]);
      }
    }
    sendBuffers += stream.sendBuffered.allocated;
  }
  collectGarbage();
  const after = process.memoryUsage();
  for (const c of open) c.socket.destroy();
  const perChannelKb = (bytes: number) => bytes / count / 1024;
  return [
    {
      bench: BENCH,
      variant: "window-full",
      metric: "heap_kb_per_channel",
      value: perChannelKb(after.heapUsed - before.heapUsed),
      unit: "KB",
    },
    {
      bench: BENCH,
      variant: "window-full",
      metric: "buffers_kb_per_channel",
      value: perChannelKb(after.arrayBuffers - before.arrayBuffers),
      unit: "KB",
    },
    {
      bench: BENCH,
      variant: "window-full",
      metric: "send_buffer_kb",
      value: perChannelKb(sendBuffers),
      unit: "KB",
    },
    {
      bench: BENCH,
      variant: "window-full",
      metric: "window_kb",
      value: DEFAULT_WINDOW_BYTES / 1024,
      unit: "KB",
    },
  ];
}

/** Each stage on a system of its own: the worker would spread one stage's pairs over another's data plane. */
async function onSystem(
  stage: (system: FlockSystem, alice: IdentityMaterials, bob: IdentityMaterials) => Promise<BenchResult[]>,
): Promise<BenchResult[]> {
  const { system, alice, bob } = await startSystemWithPair({ dataPlane: false });
  try {
    return await stage(system, alice, bob);
  } finally {
    await system.stop();
  }
}

const STAGES = ["direct", "tcp", "apart", "apart-old64", "resume", "memory"] as const;

function chosenStages(): Set<string> {
  const chosen = (process.env.FLOCK_BENCH_STREAM_STAGES ?? STAGES.join(",")).split(",").map((s) => s.trim());
  const unknown = chosen.filter((s) => !(STAGES as readonly string[]).includes(s));
  if (unknown.length > 0)
    throw new Error(`unknown stream stage ${unknown.join(", ")}; have ${STAGES.join(", ")}`);
  return new Set(chosen);
}

export const run: Bench = async () => {
  const stages = chosenStages();
  const load = { start: loadavg(), end: [] as number[] };
  const date = new Date().toISOString();
  const samples: Record<string, Record<Variant, Pumped[] | ApartRound[]>> = {};
  const rows: BenchResult[] = [];
  if ([...stages].some((s) => s === "direct" || s === "tcp" || s in APART_STAGES)) {
    rows.push(
      ...(await onSystem(async (system, alice, bob) => {
        const out: BenchResult[] = [];
        const endpoints = await startEndpoints(alice, bob);
        try {
          if (stages.has("direct")) {
            const near = await throughput("direct", endpoints);
            samples.direct = near.samples;
            out.push(...near.rows);
          }
          if ([...stages].some((s) => s === "tcp" || s in APART_STAGES)) {
            await system.startDataPlaneProcess("bench-stream-1");
          }
          if (stages.has("tcp")) {
            const relayed = await throughput("tcp", endpoints);
            samples.tcp = relayed.samples;
            out.push(...relayed.rows);
          }
          for (const stage of Object.keys(APART_STAGES) as ApartStage[]) {
            if (!stages.has(stage)) continue;
            const measured = await apart(stage, alice, bob);
            samples[stage] = measured.samples;
            out.push(...measured.rows);
          }
        } finally {
          endpoints.stop();
        }
        return out;
      })),
    );
  }
  if (stages.has("resume")) rows.push(...(await onSystem(resumeTimes)));
  if (stages.has("memory")) {
    rows.push(
      ...(await onSystem(async (system, alice, bob) => {
        await system.startDataPlaneProcess("bench-stream-memory");
        return memory(alice, bob);
      })),
    );
  }
  load.end = loadavg();
  const jsonPath = process.env.FLOCK_BENCH_STREAM_JSON ?? DEFAULT_JSON;
  mkdirSync(dirname(jsonPath), { recursive: true });
  const meta = {
    date,
    node: process.version,
    loadavg: load,
    bytes: bulkBytes(),
    rounds: envNumber("FLOCK_BENCH_ROUNDS", 5),
    stages: [...stages],
  };
  // Every round's figure too: the machine is shared, and the spread says how far to trust a median.
  writeFileSync(jsonPath, `${JSON.stringify({ ...meta, rows, samples }, null, 2)}\n`);
  process.stderr.write(`stream: results in ${jsonPath}\n`);
  return rows;
};
