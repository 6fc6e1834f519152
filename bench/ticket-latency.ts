/**
 * Ticket issuance against the local worker (workerd, local D1): latency p50/p99 one at a
 * time, and tickets per second with several requests in flight; bare GET /healthz measured
 * the same way in the same run, so the cost of the ticket itself stands out from the cost
 * of reaching workerd; and one request for the tickets of an MPC party's 9 peers. Beside each, the CPU time workerd spent per request (local D1 runs
 * inside workerd, so its SQLite work counts too), read from /proc for the workerd processes
 * this one started.
 *
 * FLOCK_BENCH_TICKETS (default 500 requests per variant), FLOCK_BENCH_CONCURRENCY (default 8).
 */
import { percentile } from "../cli/commands/ping.ts";
import { createIdentity } from "../client/identity.ts";
import { fetchTicket, fetchTickets } from "../client/ticket-client.ts";
import { startSystem } from "../test/helpers/system.ts";
import { childrenCpuSeconds } from "./lib/child-cpu.ts";
import { envNumber } from "./lib/env.ts";
import type { Bench, BenchResult } from "./types.ts";

const BENCH = "ticket-latency";
/** The peers of one MPC party in the many-tickets variant: N = 10 parties, N−1 tickets per request. */
const MPC_PEERS = 9;

async function sequential(count: number, call: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  return times;
}

/** Calls per second with `concurrency` calls always in flight. */
async function perSecond(count: number, concurrency: number, call: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next++ < count) await call();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return count / ((performance.now() - started) / 1000);
}

export const run: Bench = async () => {
  const count = envNumber("FLOCK_BENCH_TICKETS", 500);
  const concurrency = envNumber("FLOCK_BENCH_CONCURRENCY", 8);
  const system = await startSystem();
  try {
    await system.createUser("bench");
    await system.party("bench", "bob");
    const peers = Array.from({ length: MPC_PEERS }, (_, i) => `peer-${i}`);
    for (const peer of peers) await system.party("bench", peer);
    const alice = createIdentity(await system.party("bench", "alice"));
    const ticket = () => fetchTicket(alice, { dest: "bob" });
    const mpcTickets = () => fetchTickets(alice, { dests: peers });
    const healthz = async () => {
      const response = await fetch(`${system.url}/healthz`);
      if (!response.ok) throw new Error(`healthz answered ${response.status}`);
      await response.arrayBuffer();
    };

    const rows: BenchResult[] = [];
    for (const [variant, call, ticketsPerCall] of [
      ["healthz", healthz, 0],
      ["ticket", ticket, 1],
      [`tickets-x${MPC_PEERS}`, mpcTickets, MPC_PEERS],
    ] as const) {
      await sequential(Math.min(20, count), call); // warm-up: first requests compile and open D1
      const cpuBefore = childrenCpuSeconds("workerd");
      const times = await sequential(count, call);
      const cpuMs = (childrenCpuSeconds("workerd") - cpuBefore) * 1000;
      rows.push({ bench: BENCH, variant, metric: "cpu_ms_per_request", value: cpuMs / count, unit: "ms" });
      if (ticketsPerCall > 0) {
        const perTicket = cpuMs / count / ticketsPerCall;
        rows.push({ bench: BENCH, variant, metric: "cpu_ms_per_ticket", value: perTicket, unit: "ms" });
      }
      rows.push({ bench: BENCH, variant, metric: "p50_ms", value: percentile(times, 50), unit: "ms" });
      rows.push({ bench: BENCH, variant, metric: "p99_ms", value: percentile(times, 99), unit: "ms" });
      const rate = await perSecond(count, concurrency, call);
      rows.push({
        bench: BENCH,
        variant,
        metric: "per_second",
        value: rate,
        unit: "req/s",
      });
    }
    return rows;
  } finally {
    await system.stop();
  }
};
