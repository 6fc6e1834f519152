/**
 * The order in which one call tries a user's backends. Pure: the caller supplies the clock,
 * a round-robin counter and a random source, so every policy is unit-tested without HTTP.
 * Backends in back-off come last, soonest-to-recover first, so they are tried only when
 * every healthy one failed (and a backend is probed again once its back-off ends).
 */
import type { RoutingPolicy } from "../../protocol/api.ts";

/** Floor for latencies so a 0 ms sample cannot take infinite weight. */
export const MIN_LATENCY_MS = 1;

export interface Candidate {
  name: string;
  /** Moving average of call times; null until measured. */
  latencyMs: number | null;
  /** Epoch ms until which the backend is skipped; 0 when healthy. */
  backoffUntil: number;
}

export interface RoutingInputs {
  nowMs: number;
  /** Increases by one per call (per isolate). */
  counter: number;
  /** Uniform in [0, 1). */
  random: () => number;
}

export function orderCandidates<T extends Candidate>(
  policy: RoutingPolicy,
  candidates: T[],
  inputs: RoutingInputs,
): T[] {
  const byName = [...candidates].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const healthy = byName.filter((c) => c.backoffUntil <= inputs.nowMs);
  const resting = byName
    .filter((c) => c.backoffUntil > inputs.nowMs)
    .sort((a, b) => a.backoffUntil - b.backoffUntil);
  return [...orderHealthy(policy, healthy, inputs), ...resting];
}

function orderHealthy<T extends Candidate>(policy: RoutingPolicy, healthy: T[], inputs: RoutingInputs): T[] {
  if (healthy.length <= 1) return healthy;
  switch (policy) {
    case "round-robin": {
      const start = inputs.counter % healthy.length;
      return [...healthy.slice(start), ...healthy.slice(0, start)];
    }
    case "least-latency":
      // Unmeasured backends first, so every backend gets measured once.
      return [...healthy].sort((a, b) => (a.latencyMs ?? -1) - (b.latencyMs ?? -1));
    case "random":
      return weightedShuffle(healthy, inverseLatencyWeights(healthy), inputs.random);
  }
}

/**
 * Weight 1/latency, so a backend twice as fast gets twice the calls. An unmeasured backend
 * weighs as much as the fastest measured one: it gets a fair chance to be measured.
 */
export function inverseLatencyWeights(candidates: Candidate[]): number[] {
  const measured = candidates.map((c) => c.latencyMs).filter((l): l is number => l !== null);
  const fastest = measured.length > 0 ? Math.max(MIN_LATENCY_MS, Math.min(...measured)) : MIN_LATENCY_MS;
  return candidates.map((c) => 1 / Math.max(MIN_LATENCY_MS, c.latencyMs ?? fastest));
}

/** Draws without replacement in proportion to weight: the first pick is the routed backend, the rest are failover order. */
export function weightedShuffle<T>(items: T[], weights: number[], random: () => number): T[] {
  const pool = items.map((item, i) => ({ item, weight: weights[i] ?? 0 }));
  const out: T[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((sum, p) => sum + p.weight, 0);
    let pick = random() * total;
    let index = pool.findIndex((p) => {
      pick -= p.weight;
      return pick < 0;
    });
    if (index < 0) index = pool.length - 1;
    const [chosen] = pool.splice(index, 1);
    if (chosen) out.push(chosen.item);
  }
  return out;
}
