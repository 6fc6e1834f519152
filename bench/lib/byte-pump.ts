import type { Duplex } from "node:stream";

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
  for (let sent = 0, i = 0; sent < bytes; i++) {
    const buffer = pool[i % pool.length] as Buffer;
    const piece = bytes - sent < buffer.length ? buffer.subarray(0, bytes - sent) : buffer;
    sent += piece.length;
    if (!from.write(piece)) await new Promise((resolve) => from.once("drain", resolve));
  }
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
