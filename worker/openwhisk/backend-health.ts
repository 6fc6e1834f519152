/**
 * What routing knows about each backend: a moving average of measured call times and, after
 * a failure, a back-off deadline. It lives in the isolate (so the invoke path does not wait
 * on D1) with D1 as backing: an isolate seeds a backend from its D1 row the first time it
 * sees it, back-offs are written at once, and averages at most every
 * HEALTH_PERSIST_INTERVAL_MS per backend, so other isolates and `flock backend list` see them.
 * The isolate keeps its clock's milliseconds; D1 stores the back-off in unix seconds, rounded up
 * so a stored back-off never ends before the isolate's.
 */
import { type BackendRow, updateBackendHealth } from "../db/backends.ts";
import type { Attempt } from "./call-context.ts";

/** A backend that failed (unreachable, timed out, 503) is skipped this long, then probed again. */
export const BACKEND_BACKOFF_MS = 30_000;
export const HEALTH_PERSIST_INTERVAL_MS = 5_000;
/** Weight of the newest sample in the latency moving average. */
export const LATENCY_EWMA_WEIGHT = 0.3;
/** Bounds the per-isolate table; forgetting only means reseeding from D1. */
export const MAX_TRACKED_BACKENDS = 10_000;

interface Health {
  latencyMs: number | null;
  backoffUntil: number;
  persistedAt: number;
}

const tracked = new Map<string, Health>();

export function foldLatency(previous: number | null, sampleMs: number): number {
  return previous === null ? sampleMs : previous * (1 - LATENCY_EWMA_WEIGHT) + sampleMs * LATENCY_EWMA_WEIGHT;
}

/** The health routing should use for these rows: the isolate's own if it has any, else D1's. */
export function currentHealth(
  rows: BackendRow[],
): Map<string, { latencyMs: number | null; backoffUntil: number }> {
  if (tracked.size > MAX_TRACKED_BACKENDS) tracked.clear();
  const out = new Map<string, { latencyMs: number | null; backoffUntil: number }>();
  for (const row of rows) {
    let health = tracked.get(row.name);
    if (!health) {
      health = { latencyMs: row.latency_ms, backoffUntil: row.backoff_until * 1000, persistedAt: 0 };
      tracked.set(row.name, health);
    }
    out.set(row.name, { latencyMs: health.latencyMs, backoffUntil: health.backoffUntil });
  }
  return out;
}

/**
 * Learns from one call's attempts; returns the D1 writes that keep the backing current.
 * 429 is the namespace's quota, not the backend's health: it changes neither average nor back-off.
 */
export function observeAttempts(db: D1Database, attempts: Attempt[], nowMs: number): D1PreparedStatement[] {
  const writes: D1PreparedStatement[] = [];
  for (const a of attempts) {
    if (a.status === 429) continue;
    const health = tracked.get(a.backend) ?? { latencyMs: null, backoffUntil: 0, persistedAt: 0 };
    tracked.set(a.backend, health);
    const failed = a.outcome !== "answer" || a.status === 503;
    const backoffChanged = failed || health.backoffUntil !== 0;
    if (failed) health.backoffUntil = nowMs + BACKEND_BACKOFF_MS;
    else {
      health.backoffUntil = 0;
      health.latencyMs = foldLatency(health.latencyMs, a.ms);
    }
    if (backoffChanged || nowMs - health.persistedAt >= HEALTH_PERSIST_INTERVAL_MS) {
      health.persistedAt = nowMs;
      writes.push(
        updateBackendHealth(db, a.backend, health.latencyMs, Math.ceil(health.backoffUntil / 1000)),
      );
    }
  }
  return writes;
}
