/**
 * The caller table (key row, backends, policy) of recent callers, kept in the isolate for
 * CALLER_CACHE_TTL_MS so a busy caller costs one D1 round trip per TTL, not per call. The
 * presented key is still hashed and compared on every call. Admin changes (backends, policy,
 * key revocation) clear the cache of the isolate that made them at once; other isolates
 * see them within the TTL.
 */
import { type CallerTable, loadCallerTable } from "./backend-store.ts";

export const CALLER_CACHE_TTL_MS = 5_000;
/** Bounds the cache; when full it starts over (a miss costs one D1 round trip). */
export const MAX_CACHED_CALLERS = 10_000;

const cached = new Map<string, { table: CallerTable; expiresAt: number }>();

export async function callerTable(db: D1Database, uuid: string, nowMs: number): Promise<CallerTable> {
  const hit = cached.get(uuid);
  if (hit && hit.expiresAt > nowMs) return hit.table;
  const table = await loadCallerTable(db, uuid);
  // Unknown uuids are not kept: a flood of made-up ones must not fill the isolate.
  if (table.key) {
    if (cached.size >= MAX_CACHED_CALLERS) cached.clear();
    cached.set(uuid, { table, expiresAt: nowMs + CALLER_CACHE_TTL_MS });
  } else {
    cached.delete(uuid);
  }
  return table;
}

export function forgetCallers(): void {
  cached.clear();
}
