import type { Duplex } from "node:stream";
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { Channel } from "../../client/connect.ts";
import { FlockError } from "../../protocol/errors.ts";
import { integerIn } from "../command-group.ts";
import { printJson, UserError } from "../output.ts";
import type { PartyCommandFlags } from "./connect.ts";
import { openChannelFromFlags, withChannelOptions } from "./connect.ts";

/** Bytes of one latency probe: small, so the round trip measures the path, not the bandwidth. */
export const PING_PROBE_BYTES = 64;
/** Write size during the throughput phase. */
export const PING_CHUNK_BYTES = 64 * 1024;
export const DEFAULT_PING_COUNT = 20;
export const DEFAULT_PING_BYTES = 16 * 1024 * 1024;
export const MAX_PING_BYTES = 64 * 1024 * 1024 * 1024;

/**
 * First byte each side sends on the channel: whether it insists on answering (`--listen`)
 * or lets the pair decide. Then both terminals can run the same `flock ping --dest X`: the
 * end-to-end TLS client measures and the server answers, unless one side said `--listen`.
 */
const MODE_LISTEN = 0x45; // "E"
const MODE_AUTO = 0x41; // "A"

export interface PingResult {
  peer: string;
  relay: string;
  transport: string;
  setupMs: number;
  count: number;
  p50Ms: number;
  p99Ms: number;
  bytes: number;
  seconds: number;
  /** Megabytes (10^6) per second, each way: the peer echoes every byte back. */
  mbPerSecond: number;
}

/** `64M`, `1G`, `512k`, `1000`: binary multiples, as `dd` reads them. */
export function parseSize(value: string): number {
  const m = /^(\d+)([kKmMgG]?)i?[bB]?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("expected a size such as 4096, 512K, 64M or 1G.");
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    (m[2] ?? "").toLowerCase() as "" | "k" | "m" | "g"
  ];
  const bytes = Number(m[1]) * unit;
  if (bytes < 1 || bytes > MAX_PING_BYTES)
    throw new InvalidArgumentError(`expected 1 byte to ${MAX_PING_BYTES} bytes.`);
  return bytes;
}

/** Nearest-rank percentile of `values` (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Reads exactly `n` bytes, leaving anything after them in the stream. */
export function readExactly(stream: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error, value?: Buffer) => {
      stream.off("readable", onReadable).off("end", onEnd).off("error", onError);
      if (error) reject(error);
      else resolve(value as Buffer);
    };
    const onReadable = () => {
      const chunk = stream.read(n) as Buffer | null;
      if (chunk !== null) done(undefined, chunk);
    };
    const onEnd = () =>
      done(new FlockError("PEER_CLOSED", "The peer ended the channel in the middle of a ping."));
    const onError = (error: Error) => done(error);
    stream.on("readable", onReadable).once("end", onEnd).once("error", onError);
    onReadable();
  });
}

/** Decides who measures: the side that did not say --listen; if neither did, the TLS client. */
export async function pingRole(channel: Channel, listen: boolean): Promise<"measure" | "echo"> {
  channel.socket.write(Buffer.from([listen ? MODE_LISTEN : MODE_AUTO]));
  const [peerMode] = await readExactly(channel.socket, 1);
  const peerListens = peerMode === MODE_LISTEN;
  if (listen && peerListens)
    throw new UserError("Both sides run `flock ping --listen`; run one of them without it.");
  if (listen) return "echo";
  if (peerListens) return "measure";
  return channel.role === "client" ? "measure" : "echo";
}

/** Sends every byte back until the measuring side ends, then ends too. */
export function echo(socket: Duplex): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    socket.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    socket.once("error", reject);
    socket.once("close", () => resolve(bytes));
    socket.pipe(socket);
  });
}

/** Round trips of a small probe, then `bytes` streamed through the echo and back. */
export async function measure(
  channel: Channel,
  options: { count: number; bytes: number; setupMs: number },
): Promise<PingResult> {
  const { socket } = channel;
  const probe = Buffer.alloc(PING_PROBE_BYTES, 0x70);
  const rtts: number[] = [];
  for (let i = 0; i < options.count; i++) {
    const started = performance.now();
    socket.write(probe);
    await readExactly(socket, PING_PROBE_BYTES);
    rtts.push(performance.now() - started);
  }

  const started = performance.now();
  const echoed = new Promise<void>((resolve, reject) => {
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received >= options.bytes) {
        socket.off("data", onData).off("error", reject);
        resolve();
      }
    };
    socket.on("data", onData).once("error", reject);
  });
  const chunk = Buffer.alloc(Math.min(PING_CHUNK_BYTES, options.bytes), 0x61);
  for (let sent = 0; sent < options.bytes; sent += chunk.length) {
    const last = options.bytes - sent < chunk.length;
    if (!socket.write(last ? chunk.subarray(0, options.bytes - sent) : chunk)) {
      await new Promise((resolve) => socket.once("drain", resolve));
    }
  }
  await echoed;
  const seconds = (performance.now() - started) / 1000;
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.end();
  socket.resume();
  await closed;
  return {
    peer: channel.peer,
    relay: channel.relay,
    transport: channel.transport,
    setupMs: options.setupMs,
    count: options.count,
    p50Ms: percentile(rtts, 50),
    p99Ms: percentile(rtts, 99),
    bytes: options.bytes,
    seconds,
    mbPerSecond: options.bytes / 1e6 / seconds,
  };
}

function printResult(r: PingResult): void {
  const lines: Array<[string, string]> = [
    ["peer", `${r.peer} through ${r.relay} (${r.transport})`],
    ["setup", `${r.setupMs.toFixed(1)} ms (ticket, waiting for the peer, pairing, end-to-end mTLS)`],
    ["latency", `p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  (${r.count} round trips)`],
    [
      "throughput",
      `${r.mbPerSecond.toFixed(1)} MB/s each way (${r.bytes} bytes echoed in ${r.seconds.toFixed(2)} s)`,
    ],
  ];
  for (const [label, value] of lines) process.stdout.write(`${label.padEnd(11)} ${value}\n`);
}

interface PingFlags extends PartyCommandFlags {
  count: number;
  bytes: number;
  listen?: boolean;
  json?: boolean;
}

export function registerPingCommand(program: Command): void {
  withChannelOptions(
    program
      .command("ping")
      .description(
        "latency and throughput to a peer party; run it on both sides (the end-to-end TLS server answers, or the side with --listen)",
      ),
  )
    .option("--count <n>", "latency round trips", integerIn(1, 1_000_000), DEFAULT_PING_COUNT)
    .option("--bytes <size>", "bytes to stream through the echo, e.g. 64M", parseSize, DEFAULT_PING_BYTES)
    .option("--listen", "only answer pings")
    .option("--json", "print the result as JSON")
    .action(async (flags: PingFlags) => {
      const started = performance.now();
      const channel = await openChannelFromFlags(flags);
      const setupMs = performance.now() - started;
      if ((await pingRole(channel, Boolean(flags.listen))) === "echo") {
        if (!flags.quiet) process.stderr.write(`flock: answering pings from ${channel.peer}\n`);
        const bytes = await echo(channel.socket);
        if (flags.json) printJson({ peer: channel.peer, role: "echo", bytes });
        else if (!flags.quiet) process.stderr.write(`flock: echoed ${bytes} bytes\n`);
        return;
      }
      const result = await measure(channel, { count: flags.count, bytes: flags.bytes, setupMs });
      if (flags.json) printJson(result);
      else printResult(result);
    });
}
