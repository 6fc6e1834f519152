/** D1 access for registered OpenWhisk backends and each user's routing policy. */
import {
  type BackendInfo,
  type BackendInput,
  type Page,
  ROUTING_POLICIES,
  type RoutingPolicy,
  type RoutingPolicyInfo,
} from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { assertName } from "../../protocol/names.ts";
import { isForeignKeyViolation, isUniqueViolation } from "../db/constraint.ts";
import { type PageQuery, toPage } from "../db/pagination.ts";
import { isoFromSeconds, nowSeconds } from "../db/time.ts";
import { sealCredential } from "./credential-cipher.ts";

export const DEFAULT_ROUTING_POLICY: RoutingPolicy = "round-robin";
/** Weight of the newest sample in the latency moving average. */
export const LATENCY_EWMA_WEIGHT = 0.3;
const MAX_APIHOST_CHARS = 2048;
const MAX_AUTH_CHARS = 1024;

export interface BackendRow {
  name: string;
  user_name: string | null;
  apihost: string;
  auth_sealed: string;
  insecure: number;
  created_at: number;
  latency_ms: number | null;
  backoff_until: number;
}

const COLUMNS = "name, user_name, apihost, auth_sealed, insecure, created_at, latency_ms, backoff_until";

export function toBackendInfo(row: BackendRow, nowMs = Date.now()): BackendInfo {
  const info: BackendInfo = {
    name: row.name,
    apihost: row.apihost,
    insecure: row.insecure === 1,
    createdAt: isoFromSeconds(row.created_at),
  };
  if (row.user_name !== null) info.user = row.user_name;
  if (row.latency_ms !== null) info.latencyMs = Math.round(row.latency_ms * 10) / 10;
  if (row.backoff_until > nowMs) info.backoffUntil = new Date(row.backoff_until).toISOString();
  return info;
}

export function assertRoutingPolicy(value: unknown): RoutingPolicy {
  if (typeof value === "string" && (ROUTING_POLICIES as readonly string[]).includes(value)) {
    return value as RoutingPolicy;
  }
  throw new FlockError("BAD_REQUEST", `policy must be one of ${ROUTING_POLICIES.join(", ")}.`);
}

/** The api host as the `openwhisk` client treats it: no scheme means https; no path, query or fragment. */
export function normaliseApihost(value: unknown): string {
  if (typeof value !== "string" || value === "" || value.length > MAX_APIHOST_CHARS) {
    throw new FlockError("BAD_REQUEST", "apihost must be a URL such as https://openwhisk.example.com.");
  }
  const withScheme = /^https?:\/\//i.test(value) ? value : `https://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new FlockError("BAD_REQUEST", "apihost must be a URL such as https://openwhisk.example.com.");
  }
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    (url.pathname !== "/" && url.pathname !== "")
  ) {
    throw new FlockError(
      "BAD_REQUEST",
      "apihost must be scheme, host and port only, with no credentials or path.",
    );
  }
  return url.origin;
}

function assertAuth(value: unknown): string {
  if (typeof value !== "string" || value.length > MAX_AUTH_CHARS || !/^[^:\s]+:[^\s]+$/.test(value)) {
    throw new FlockError("BAD_REQUEST", "auth must be the backend's uuid:key.");
  }
  return value;
}

export function parseBackendInput(body: unknown): BackendInput {
  if (body === null || typeof body !== "object")
    throw new FlockError("BAD_REQUEST", "Expected a JSON object.");
  const b = body as Record<string, unknown>;
  const input: BackendInput = {
    name: assertName(b.name, "backend"),
    apihost: normaliseApihost(b.apihost),
    auth: assertAuth(b.auth),
  };
  if (b.user !== undefined && b.user !== null) input.user = assertName(b.user, "user");
  if (b.insecure !== undefined) {
    if (typeof b.insecure !== "boolean")
      throw new FlockError("BAD_REQUEST", "insecure must be true or false.");
    input.insecure = b.insecure;
  }
  if (b.policy !== undefined) {
    if (input.user === undefined) {
      throw new FlockError(
        "BAD_REQUEST",
        "policy is per user: give user too, or use the backend-policy endpoint.",
      );
    }
    input.policy = assertRoutingPolicy(b.policy);
  }
  return input;
}

export async function insertBackend(
  db: D1Database,
  key: CryptoKey,
  input: BackendInput,
): Promise<BackendInfo> {
  const row: BackendRow = {
    name: input.name,
    user_name: input.user ?? null,
    apihost: input.apihost,
    auth_sealed: await sealCredential(key, input.auth, input.name),
    insecure: input.insecure ? 1 : 0,
    created_at: nowSeconds(),
    latency_ms: null,
    backoff_until: 0,
  };
  const statements = [
    db
      .prepare(
        "INSERT INTO ow_backends (name, user_name, apihost, auth_sealed, insecure, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .bind(row.name, row.user_name, row.apihost, row.auth_sealed, row.insecure, row.created_at),
  ];
  if (input.policy && input.user) statements.push(policyStatement(db, input.user, input.policy));
  try {
    await db.batch(statements);
  } catch (error) {
    if (isUniqueViolation(error)) throw new FlockError("BACKEND_EXISTS");
    if (isForeignKeyViolation(error)) throw new FlockError("USER_NOT_FOUND");
    throw error;
  }
  return toBackendInfo(row);
}

export async function listBackends(
  db: D1Database,
  query: PageQuery,
  user: string | undefined,
): Promise<Page<BackendInfo>> {
  const statement =
    user === undefined
      ? db
          .prepare(`SELECT ${COLUMNS} FROM ow_backends WHERE name > ? ORDER BY name LIMIT ?`)
          .bind(query.after[0], query.limit + 1)
      : db
          .prepare(
            `SELECT ${COLUMNS} FROM ow_backends WHERE name > ? AND (user_name = ? OR user_name IS NULL) ORDER BY name LIMIT ?`,
          )
          .bind(query.after[0], user, query.limit + 1);
  const { results } = await statement.all<BackendRow>();
  const now = Date.now();
  return toPage(
    results,
    query,
    (row) => [row.name],
    (row) => toBackendInfo(row, now),
  );
}

/** Removes the backend; the activations it holds are forgotten with it (ON DELETE CASCADE). */
export async function deleteBackend(db: D1Database, name: string): Promise<BackendInfo> {
  const row = await db
    .prepare(`DELETE FROM ow_backends WHERE name = ? RETURNING ${COLUMNS}`)
    .bind(name)
    .first<BackendRow>();
  if (!row) throw new FlockError("BACKEND_NOT_FOUND");
  return toBackendInfo(row);
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
  return { user, policy };
}

/** Everything routing needs for one call, in one round trip: the user's backends (own and shared) and policy. */
export async function loadRoutingTable(
  db: D1Database,
  user: string,
): Promise<{ policy: RoutingPolicy; rows: BackendRow[] }> {
  const [backends, routing] = await db.batch([
    db
      .prepare(`SELECT ${COLUMNS} FROM ow_backends WHERE user_name = ? OR user_name IS NULL ORDER BY name`)
      .bind(user),
    db.prepare("SELECT policy FROM ow_routing WHERE user_name = ?").bind(user),
  ]);
  const policyRow = (routing?.results[0] ?? undefined) as { policy: RoutingPolicy } | undefined;
  return {
    policy: policyRow?.policy ?? DEFAULT_ROUTING_POLICY,
    rows: (backends?.results ?? []) as BackendRow[],
  };
}

/** Folds one measured call time into the backend's moving average and clears any back-off. */
export function recordLatency(db: D1Database, name: string, latencyMs: number): D1PreparedStatement {
  return db
    .prepare(
      "UPDATE ow_backends SET latency_ms = CASE WHEN latency_ms IS NULL THEN ?2 ELSE latency_ms * (1 - ?3) + ?2 * ?3 END, backoff_until = 0 WHERE name = ?1",
    )
    .bind(name, latencyMs, LATENCY_EWMA_WEIGHT);
}

export function recordBackoff(db: D1Database, name: string, untilMs: number): D1PreparedStatement {
  return db.prepare("UPDATE ow_backends SET backoff_until = ? WHERE name = ?").bind(untilMs, name);
}
