/** Registered OpenWhisk backends (credentials sealed) and each user's routing policy. */
import type { BackendInfo, Page, RoutingPolicy, RoutingPolicyInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { forgetCallers } from "./caller-cache.ts";
import { isForeignKeyViolation, isUniqueViolation } from "./d1-errors.ts";
import { type PageQuery, toPage } from "./pagination.ts";
import { isoFromSeconds } from "./time.ts";

export const DEFAULT_ROUTING_POLICY: RoutingPolicy = "round-robin";

export interface BackendRow {
  name: string;
  user_name: string | null;
  apihost: string;
  auth_sealed: string;
  created_at: number;
  /** Moving average of measured call times (a duration, in ms); NULL until the first call. */
  latency_ms: number | null;
  /** Unix seconds; 0 when the backend is not backed off. */
  backoff_until: number;
}

export const BACKEND_COLUMNS = "name, user_name, apihost, auth_sealed, created_at, latency_ms, backoff_until";

export function toBackendInfo(row: BackendRow, now: number): BackendInfo {
  const info: BackendInfo = {
    name: row.name,
    apihost: row.apihost,
    shared: row.user_name === null,
    createdAt: isoFromSeconds(row.created_at),
  };
  if (row.user_name !== null) info.user = row.user_name;
  if (row.latency_ms !== null) info.latencyMs = Math.round(row.latency_ms * 10) / 10;
  if (row.backoff_until > now) info.backoffUntil = isoFromSeconds(row.backoff_until);
  return info;
}

export interface NewBackend {
  name: string;
  /** Absent: a shared backend that serves every user. */
  user?: string;
  apihost: string;
  /** credential-cipher's sealed `uuid:key`. */
  authSealed: string;
  /** Set as the user's routing policy in the same transaction. */
  policy?: RoutingPolicy;
}

export async function insertBackend(db: D1Database, backend: NewBackend, now: number): Promise<BackendInfo> {
  const row: BackendRow = {
    name: backend.name,
    user_name: backend.user ?? null,
    apihost: backend.apihost,
    auth_sealed: backend.authSealed,
    created_at: now,
    latency_ms: null,
    backoff_until: 0,
  };
  const statements = [
    db
      .prepare(
        "INSERT INTO ow_backends (name, user_name, apihost, auth_sealed, created_at) VALUES (?, ?, ?, ?, ?)",
      )
      .bind(row.name, row.user_name, row.apihost, row.auth_sealed, row.created_at),
  ];
  if (backend.policy && backend.user) statements.push(policyStatement(db, backend.user, backend.policy));
  try {
    await db.batch(statements);
  } catch (error) {
    if (isUniqueViolation(error)) throw new FlockError("BACKEND_EXISTS");
    if (isForeignKeyViolation(error)) throw new FlockError("USER_NOT_FOUND");
    throw error;
  }
  forgetCallers();
  return toBackendInfo(row, now);
}

export async function listBackends(
  db: D1Database,
  query: PageQuery,
  user: string | undefined,
  now: number,
): Promise<Page<BackendInfo>> {
  const statement =
    user === undefined
      ? db
          .prepare(`SELECT ${BACKEND_COLUMNS} FROM ow_backends WHERE name > ? ORDER BY name LIMIT ?`)
          .bind(query.after[0], query.limit + 1)
      : db
          .prepare(
            `SELECT ${BACKEND_COLUMNS} FROM ow_backends WHERE name > ? AND (user_name = ? OR user_name IS NULL) ORDER BY name LIMIT ?`,
          )
          .bind(query.after[0], user, query.limit + 1);
  const { results } = await statement.all<BackendRow>();
  return toPage(
    results,
    query,
    (row) => [row.name],
    (row) => toBackendInfo(row, now),
  );
}

/** Removes the backend; the activations it holds are forgotten with it (ON DELETE CASCADE). */
export async function deleteBackend(db: D1Database, name: string, now: number): Promise<BackendInfo> {
  const row = await db
    .prepare(`DELETE FROM ow_backends WHERE name = ? RETURNING ${BACKEND_COLUMNS}`)
    .bind(name)
    .first<BackendRow>();
  if (!row) throw new FlockError("BACKEND_NOT_FOUND");
  forgetCallers();
  return toBackendInfo(row, now);
}

function policyStatement(db: D1Database, user: string, policy: RoutingPolicy): D1PreparedStatement {
  return db
    .prepare(
      "INSERT INTO ow_routing (user_name, policy) VALUES (?, ?) ON CONFLICT (user_name) DO UPDATE SET policy = excluded.policy",
    )
    .bind(user, policy);
}

export async function setRoutingPolicy(
  db: D1Database,
  user: string,
  policy: RoutingPolicy,
): Promise<RoutingPolicyInfo> {
  try {
    await policyStatement(db, user, policy).run();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new FlockError("USER_NOT_FOUND");
    throw error;
  }
  forgetCallers();
  return { user, policy };
}

/**
 * What routing learned of a backend, for the bookkeeping batch after a call. Not a change the
 * caller cache must see: each isolate keeps its own health (backend-health.ts).
 */
export function updateBackendHealth(
  db: D1Database,
  name: string,
  latencyMs: number | null,
  backoffUntil: number,
): D1PreparedStatement {
  return db
    .prepare("UPDATE ow_backends SET latency_ms = ?, backoff_until = ? WHERE name = ?")
    .bind(latencyMs, backoffUntil, name);
}
