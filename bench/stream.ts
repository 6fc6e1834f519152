/**
 * SDK wire version 2 (docs/stream.md), measured beside what it replaces:
 *
 * - throughput: one pair over tcp through a data plane in a child process, framed and raw
 *   (`stream.framing: false`), rounds alternating the two back to back; medians of MB/s and
 *   of the endpoints' CPU seconds per GB (both endpoints run in this process). The writer
 *   cycles through 64 MiB of distinct buffers, as an application's fresh data would be,
 *   rather than one buffer that stays in cache.
 * - resume: a pair in ticket mode behind a TCP proxy on the relay's address; the proxy resets
 *   both legs mid-transfer, and the time runs until both sides have resumed (fresh ticket,
 *   dial, handshake, mTLS, RESUME). p50 and p99.
 * - memory: channels whose reader stopped, each writer blocked with its window full: memory
 *   of this process (both ends of every channel) per channel, and the send buffer's share.
 *
 * FLOCK_BENCH_BYTES (default 256 MiB per variant and round), FLOCK_BENCH_ROUNDS (3),
 * FLOCK_BENCH_RESUMES (40), FLOCK_BENCH_CHANNELS (32).
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
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
import type { Bench, BenchResult } from "./types.ts";

const BENCH = "stream";
const MiB = 1024 * 1024;
const WRITE_BYTES = MiB;
const POOL_BYTES = 64 * MiB;

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

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

/** Streams `bytes` from `from` to `to` out of `pool`; answers MB/s and this process's CPU seconds per GB. */
async function timed(
  from: Duplex,
  to: Duplex,
  bytes: number,
  pool: Buffer[],
): Promise<{ mbps: number; cpuPerGb: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const received = new Promise<void>((resolve, reject) => {
    let count = 0;
    to.on("data", (c: Buffer) => {
      count += c.length;
    });
    to.once("end", () =>
      count === bytes ? resolve() : reject(new Error(`received ${count} of ${bytes} bytes`)),
    );
    to.once("error", reject);
  });
  for (let sent = 0, i = 0; sent < bytes; sent += WRITE_BYTES, i++) {
    if (!from.write(pool[i % pool.length])) await new Promise((resolve) => from.once("drain", resolve));
  }
  from.end();
  await received;
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { mbps: bytes / 1e6 / seconds, cpuPerGb: (used.user + used.system) / 1e6 / (bytes / 1e9) };
}

async function throughput(
  system: FlockSystem,
  alice: IdentityMaterials,
  bob: IdentityMaterials,
): Promise<BenchResult[]> {
  await system.startDataPlaneProcess("bench-stream-1");
  const bytes = Math.floor(envNumber("FLOCK_BENCH_BYTES", 256 * MiB) / WRITE_BYTES) * WRITE_BYTES;
  const rounds = envNumber("FLOCK_BENCH_ROUNDS", 3);
  const pool = Array.from({ length: POOL_BYTES / WRITE_BYTES }, () => randomBytes(WRITE_BYTES));
  const variants = { raw: { framing: false }, framed: {} } satisfies Record<string, StreamOptions>;
  const samples: Record<keyof typeof variants, { mbps: number; cpuPerGb: number }[]> = {
    raw: [],
    framed: [],
  };
  const once = async (name: keyof typeof variants, size: number) => {
    const [a, b] = await pair(alice, bob, variants[name]);
    try {
      return await timed(a.socket, b.socket, size, pool);
    } finally {
      a.socket.destroy();
      b.socket.destroy();
    }
  };
  await once("framed", 32 * MiB);
  await once("raw", 32 * MiB);
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? (["raw", "framed"] as const) : (["framed", "raw"] as const)) {
      samples[name].push(await once(name, bytes));
    }
  }
  const rows: BenchResult[] = [];
  for (const name of ["raw", "framed"] as const) {
    rows.push(
      {
        bench: BENCH,
        variant: `tcp-${name}`,
        metric: "mb_per_second",
        value: median(samples[name].map((s) => s.mbps)),
        unit: "MB/s",
      },
      {
        bench: BENCH,
        variant: `tcp-${name}`,
        metric: "cpu_s_per_gb",
        value: median(samples[name].map((s) => s.cpuPerGb)),
        unit: "s/GB",
      },
    );
  }
  // Per round, so a slow moment of the machine weighs on both variants alike.
  const ratios = samples.framed.map((f, i) => f.mbps / (samples.raw[i] as { mbps: number }).mbps);
  const cpuRatios = samples.framed.map(
    (f, i) => f.cpuPerGb / (samples.raw[i] as { cpuPerGb: number }).cpuPerGb,
  );
  rows.push(
    { bench: BENCH, variant: "tcp-framed/raw", metric: "throughput_ratio", value: median(ratios), unit: "×" },
    { bench: BENCH, variant: "tcp-framed/raw", metric: "cpu_ratio", value: median(cpuRatios), unit: "×" },
  );
  return rows;
}

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

export const run: Bench = async () => [
  ...(await onSystem(throughput)),
  ...(await onSystem(resumeTimes)),
  ...(await onSystem(async (system, alice, bob) => {
    await system.startDataPlaneProcess("bench-stream-memory");
    return memory(alice, bob);
  })),
];
