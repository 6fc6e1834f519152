/**
 * activationId → backend, in D1. Writing one row per invoke on the invoke path cost about
 * 10 ms per call locally (measured), so an isolate collects them and writes them in one batch
 * every AFFINITY_FLUSH_INTERVAL_MS or AFFINITY_FLUSH_BATCH rows, whichever comes first, and
 * answers lookups from what it has not written yet. An isolate that goes away before flushing
 * loses at most that much; lookups then ask every backend, which is always correct.
 */

/** Activations older than this are forgotten; OpenWhisk deployments keep them about a week by default. */
export const ACTIVATION_AFFINITY_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
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
    db
      .prepare(
        "INSERT INTO ow_activations (user_name, activation_id, backend, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (user_name, activation_id) DO UPDATE SET backend = excluded.backend",
      )
      .bind(r.user, r.activationId, r.backend, r.atMs),
  );
  if (nowMs - lastPruneMs >= AFFINITY_PRUNE_INTERVAL_MS) {
    lastPruneMs = nowMs;
    writes.push(
      db
        .prepare("DELETE FROM ow_activations WHERE created_at < ?")
        .bind(nowMs - ACTIVATION_AFFINITY_RETENTION_MS),
    );
  }
  return writes;
}

export async function activationBackend(
  db: D1Database,
  user: string,
  activationId: string,
): Promise<string | undefined> {
  const unwritten = pending.get(keyOf(user, activationId));
  if (unwritten) return unwritten.backend;
  const row = await db
    .prepare("SELECT backend FROM ow_activations WHERE user_name = ? AND activation_id = ?")
    .bind(user, activationId)
    .first<{ backend: string }>();
  return row?.backend;
}
