/**
 * One pair, end-to-end mTLS, through the real data plane on each transport, against the
 * same two endpoints doing the same mTLS over a direct TCP connection (no relay), in one
 * run; then the time to set a pair up (ticket → paired → end-to-end TLS done).
 *
 * The relayed pairs run SDK wire version 2 (framed, `connect()`'s default); the direct pair
 * is the bare end-to-end TLS, as version 1 was (bench/stream.ts compares the two alone).
 * The data plane runs in a child process, the two endpoints in this one. Relaying needs a
 * second core that direct mTLS does not, so on a shared 2-core machine one sample swings
 * with whatever else runs (ratios from 0.4 to 0.9 in one process); each round times direct
 * and every transport back to back, and the rows are medians over the rounds.
 * FLOCK_BENCH_BYTES (default 256 MiB per variant and round), FLOCK_BENCH_ROUNDS (default 3),
 * FLOCK_BENCH_SETUPS (default 200), FLOCK_BENCH_TRANSPORTS (default tcp,tls,ws).
 */
import type { Duplex } from "node:stream";
import { percentile } from "../cli/commands/ping.ts";
import { openChannel } from "../client/connect.ts";
import type { Transport } from "../client/dial.ts";
import { isTransport } from "../client/dial.ts";
import type { IdentityMaterials } from "../client/identity.ts";
import { startSystem } from "../test/helpers/system.ts";
import { pumpBytes } from "./lib/byte-pump.ts";
import { directPair } from "./lib/direct-pair.ts";
import { envNumber } from "./lib/env.ts";
import type { Bench, BenchResult } from "./types.ts";

const BENCH = "relay-throughput";
const WRITE_BYTES = 1024 * 1024;
const WARM_UP_BYTES = 32 * 1024 * 1024;

/** Streams `bytes` from `from` to `to` in writes of one repeated MiB; answers MB/s (10^6). */
export async function stream(from: Duplex, to: Duplex, bytes: number): Promise<number> {
  return (await pumpBytes(from, to, bytes, [Buffer.alloc(WRITE_BYTES, 0x5a)])).mbPerSecond;
}

async function relayed(
  alice: IdentityMaterials,
  bob: IdentityMaterials,
  transport: Transport,
  bytes: number,
) {
  const [a, b] = await Promise.all([
    openChannel({ identity: alice, transport, channel: `bulk-${transport}` }),
    openChannel({ identity: bob, transport, channel: `bulk-${transport}` }),
  ]);
  try {
    return await stream(a.socket, b.socket, bytes);
  } finally {
    a.socket.destroy();
    b.socket.destroy();
  }
}

/** The same endpoints and the same end-to-end TLS code, over one TCP connection with no relay. */
async function direct(alice: IdentityMaterials, bob: IdentityMaterials, bytes: number) {
  const { a, b, close } = await directPair("bench", alice, bob);
  try {
    return await stream(a, b, bytes);
  } finally {
    close();
  }
}

async function setupTimes(
  alice: IdentityMaterials,
  bob: IdentityMaterials,
  count: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const [a, b] = await Promise.all([
      openChannel({ identity: alice, channel: `setup-${i}` }),
      openChannel({ identity: bob, channel: `setup-${i}` }),
    ]);
    times.push(performance.now() - started);
    a.socket.destroy();
    b.socket.destroy();
  }
  return times;
}

export const run: Bench = async () => {
  const bytes = envNumber("FLOCK_BENCH_BYTES", 256 * 1024 * 1024);
  const rounds = envNumber("FLOCK_BENCH_ROUNDS", 3);
  const setups = envNumber("FLOCK_BENCH_SETUPS", 200);
  const transports = (process.env.FLOCK_BENCH_TRANSPORTS ?? "tcp,tls,ws").split(",").filter(isTransport);
  // The data plane gets its own process (as in production); both endpoints share this one.
  const system = await startSystem({ dataPlane: "child-process" });
  try {
    await system.createUser("bench");
    const alice = await system.party("bench", "alice", "bob");
    const bob = await system.party("bench", "bob", "alice");
    const rows: BenchResult[] = [];
    const row = (variant: string, metric: string, value: number, unit: string) =>
      rows.push({ bench: BENCH, variant, metric, value, unit });

    await direct(alice, bob, WARM_UP_BYTES); // JIT and TLS code paths warm before anything is timed
    const directMbps: number[] = [];
    const relayMbps = new Map<Transport, number[]>(transports.map((t) => [t, []]));
    const ratios = new Map<Transport, number[]>(transports.map((t) => [t, []]));
    for (let round = 0; round < rounds; round++) {
      const directNow = await direct(alice, bob, bytes);
      directMbps.push(directNow);
      for (const transport of transports) {
        const mbps = await relayed(alice, bob, transport, bytes);
        relayMbps.get(transport)?.push(mbps);
        // Against the direct figure of this same round: absolute numbers move with the machine's load.
        ratios.get(transport)?.push(mbps / directNow);
      }
    }
    row("direct-mtls", "mb_per_second", percentile(directMbps, 50), "MB/s");
    for (const transport of transports) {
      row(`relay-${transport}`, "mb_per_second", percentile(relayMbps.get(transport) ?? [], 50), "MB/s");
      row(`relay-${transport}`, "ratio_to_direct", percentile(ratios.get(transport) ?? [], 50), "ratio");
    }
    const times = await setupTimes(alice, bob, setups);
    row("pair-setup-tcp", "p50_ms", percentile(times, 50), "ms");
    row("pair-setup-tcp", "p99_ms", percentile(times, 99), "ms");
    return rows;
  } finally {
    await system.stop();
  }
};
