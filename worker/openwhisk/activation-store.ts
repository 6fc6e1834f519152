/**
 * activationId → backend, in D1 (db/activations.ts). Writing one row per invoke on the invoke
 * path cost about 10 ms per call locally (measured), so an isolate collects them and writes
 * them in one batch every AFFINITY_FLUSH_INTERVAL_MS or AFFINITY_FLUSH_BATCH rows, whichever
 * comes first, and answers lookups from what it has not written yet. An isolate that goes
 * away before flushing loses at most that much; lookups then ask every backend, which is
 * always correct. The flush timing runs on the isolate's clock (ms); rows store unix seconds.
 */
import {
  ACTIVATION_AFFINITY_RETENTION_SECONDS,
  deleteActivationsBefore,
  findActivationBackend,
  upsertActivation,
} from "../db/activations.ts";
import { secondsFromMs } from "../db/time.ts";

export const AFFINITY_FLUSH_INTERVAL_MS = 1_000;
export const AFFINITY_FLUSH_BATCH = 50;
/** Old rows are pruned at most this often per isolate, not on every flush. */
export const AFFINITY_PRUNE_INTERVAL_MS = 60_000;

interface Pending {
  user: string;
  activationId: string;
  backend: string;
  atMs: number;
}

const pending = new Map<string, Pending>();
let oldestPendingMs = Number.POSITIVE_INFINITY;
let lastPruneMs = 0;

const keyOf = (user: string, activationId: string) => `${user}\u0000${activationId}`;

export function rememberActivation(user: string, activationId: string, backend: string, nowMs: number): void {
  pending.set(keyOf(user, activationId), { user, activationId, backend, atMs: nowMs });
  oldestPendingMs = Math.min(oldestPendingMs, nowMs);
}

/** The writes due now (possibly none); the caller runs them after the response. */
export function dueAffinityWrites(db: D1Database, nowMs: number): D1PreparedStatement[] {
  const due =
    pending.size >= AFFINITY_FLUSH_BATCH ||
    (pending.size > 0 && nowMs - oldestPendingMs >= AFFINITY_FLUSH_INTERVAL_MS);
  if (!due) return [];
  const rows = [...pending.values()];
  pending.clear();
  oldestPendingMs = Number.POSITIVE_INFINITY;
  const writes = rows.map((r) =>
    upsertActivation(db, r.user, r.activationId, r.backend, secondsFromMs(r.atMs)),
  );
  if (nowMs - lastPruneMs >= AFFINITY_PRUNE_INTERVAL_MS) {
    lastPruneMs = nowMs;
    writes.push(deleteActivationsBefore(db, secondsFromMs(nowMs) - ACTIVATION_AFFINITY_RETENTION_SECONDS));
  }
  return writes;
}

export async function activationBackend(
  db: D1Database,
  user: string,
  activationId: string,
): Promise<string | undefined> {
  return pending.get(keyOf(user, activationId))?.backend ?? findActivationBackend(db, user, activationId);
}
