import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";

const MiB = 1024 * 1024;
/** The writer cycles through this many distinct 1 MiB buffers, as fresh application data would. */
const POOL_BYTES = 64 * MiB;
const WRITE_BYTES = MiB;

/** The buffers a bench writer cycles through: POOL_BYTES of distinct random WRITE_BYTES pieces. */
export function writePool(): Buffer[] {
  return Array.from({ length: POOL_BYTES / WRITE_BYTES }, () => randomBytes(WRITE_BYTES));
}

/** The next 'drain'; a stream that closes first (with or without an error) fails the transfer. */
function drained(stream: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error("the stream closed while the writer waited for 'drain'"));
    stream.once("close", onClose).once("drain", () => {
      stream.off("close", onClose);
      resolve();
    });
  });
}

/** Writes `bytes` to `stream` from the buffers of `pool` in turn (the last cut short), waiting for 'drain' when told to. */
export async function writeFromPool(stream: Duplex, bytes: number, pool: Buffer[]): Promise<void> {
  for (let sent = 0, i = 0; sent < bytes; i++) {
    const buffer = pool[i % pool.length] as Buffer;
    const piece = bytes - sent < buffer.length ? buffer.subarray(0, bytes - sent) : buffer;
    sent += piece.length;
    if (!stream.write(piece)) await drained(stream);
  }
}

/**
 * Resolves, with the time of the first byte (performance.now()), when `stream` ends after
 * exactly `bytes`; rejects on a short or long end and on an error.
 */
export function receiveAll(stream: Duplex, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let count = 0;
    let first = 0;
    stream.on("data", (chunk: Buffer) => {
      if (count === 0) first = performance.now();
      count += chunk.length;
    });
    stream.once("end", () =>
      count === bytes ? resolve(first) : reject(new Error(`received ${count} of ${bytes} bytes`)),
    );
    stream.once("error", reject);
  });
}

export interface Pumped {
  /** 10^6 bytes per second, first write to the receiver's end. */
  mbPerSecond: number;
  /** CPU seconds of this process (user and system) over the transfer, per 10^9 bytes. */
  cpuPerGb: number;
  /** The user-mode share of cpuPerGb. */
  userPerGb: number;
  /** The kernel share of cpuPerGb. */
  sysPerGb: number;
  /** Minor page faults of this process over the transfer, per 10^9 bytes: fresh memory touched. */
  minorFaultsPerGb: number;
}

/**
 * The bulk transfer the throughput benches time: `bytes` from `from` to `to`, writing the
 * buffers of `pool` in turn (the last write cut short) and waiting for 'drain' when told to;
 * done when the receiver's end came after exactly `bytes`. Both ends are in this process, so
 * the CPU figure is both endpoints'.
 */
export async function pumpBytes(from: Duplex, to: Duplex, bytes: number, pool: Buffer[]): Promise<Pumped> {
  const faults = process.resourceUsage().minorPageFault;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const received = receiveAll(to, bytes);
  await writeFromPool(from, bytes, pool);
  from.end();
  await received;
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const gb = bytes / 1e9;
  return {
    mbPerSecond: bytes / 1e6 / seconds,
    cpuPerGb: (used.user + used.system) / 1e6 / gb,
    userPerGb: used.user / 1e6 / gb,
    sysPerGb: used.system / 1e6 / gb,
    minorFaultsPerGb: (process.resourceUsage().minorPageFault - faults) / gb,
  };
}
