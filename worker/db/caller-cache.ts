/**
 * The caller tables (caller-tables.ts) of recent callers, kept in the isolate for
 * CALLER_CACHE_TTL_MS, so a busy caller costs one D1 round trip per TTL, not per call; the
 * presented key is still hashed and compared on every call. Every store that changes what a
 * table holds (backends, policies, keys, users) calls forgetCallers, so the isolate that made
 * the change sees it at once. Other isolates cannot be told: they keep what they cached until
 * its TTL runs out, then read D1 again (docs/openwhisk.md states this staleness).
 */
import type { CallerTable } from "./caller-tables.ts";

export const CALLER_CACHE_TTL_MS = 5_000;
/** Bounds the cache; when full it starts over (a miss costs one D1 round trip). */
export const MAX_CACHED_CALLERS = 10_000;

const cached = new Map<string, { table: CallerTable; expiresAtMs: number }>();

/** `nowMs` is the isolate's clock: nothing here is stored in D1. */
export function cachedCallerTable(uuid: string, nowMs: number): CallerTable | undefined {
  const hit = cached.get(uuid);
  return hit && hit.expiresAtMs > nowMs ? hit.table : undefined;
}

export function rememberCallerTable(uuid: string, table: CallerTable, nowMs: number): void {
  // Unknown uuids are not kept: a flood of made-up ones must not fill the isolate.
  if (!table.key) {
    cached.delete(uuid);
    return;
  }
  if (cached.size >= MAX_CACHED_CALLERS) cached.clear();
  cached.set(uuid, { table, expiresAtMs: nowMs + CALLER_CACHE_TTL_MS });
}

export function forgetCallers(): void {
  cached.clear();
}
