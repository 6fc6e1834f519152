/**
 * Everything one OpenWhisk call needs from D1, in one round trip: the caller key's row and,
 * for the user it names, their backends (own and shared) and policy. The rows are used only
 * after the key's hash has been checked. Read through the isolate's cache (caller-cache.ts).
 */
import type { RoutingPolicy } from "../../protocol/api.ts";
import { BACKEND_COLUMNS, type BackendRow, DEFAULT_ROUTING_POLICY } from "./backends.ts";
import { cachedCallerTable, rememberCallerTable } from "./caller-cache.ts";
import { WSK_KEY_COLUMNS, type WskKeyRow } from "./wsk-keys.ts";

export interface CallerTable {
  key: WskKeyRow | undefined;
  policy: RoutingPolicy;
  rows: BackendRow[];
}

export async function loadCallerTable(db: D1Database, uuid: string): Promise<CallerTable> {
  const owner = "(SELECT user_name FROM wsk_keys WHERE uuid = ?)";
  const [key, backends, routing] = await db.batch([
    db.prepare(`SELECT ${WSK_KEY_COLUMNS} FROM wsk_keys WHERE uuid = ?`).bind(uuid),
    db
      .prepare(
        `SELECT ${BACKEND_COLUMNS} FROM ow_backends WHERE user_name = ${owner} OR user_name IS NULL ORDER BY name`,
      )
      .bind(uuid),
    db.prepare(`SELECT policy FROM ow_routing WHERE user_name = ${owner}`).bind(uuid),
  ]);
  const policyRow = routing?.results[0] as { policy: RoutingPolicy } | undefined;
  return {
    key: key?.results[0] as WskKeyRow | undefined,
    policy: policyRow?.policy ?? DEFAULT_ROUTING_POLICY,
    rows: (backends?.results ?? []) as BackendRow[],
  };
}

/** The caller table of `uuid`, from the isolate's cache while fresh. */
export async function callerTable(db: D1Database, uuid: string, nowMs: number): Promise<CallerTable> {
  const hit = cachedCallerTable(uuid, nowMs);
  if (hit) return hit;
  const table = await loadCallerTable(db, uuid);
  rememberCallerTable(uuid, table, nowMs);
  return table;
}
