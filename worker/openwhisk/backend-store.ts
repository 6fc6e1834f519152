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
const MAX_APIHOST_CHARS = 2048;
const MAX_AUTH_CHARS = 1024;

export interface BackendRow {
  name: string;
  user_name: string | null;
  apihost: string;
  auth_sealed: string;
  created_at: number;
  latency_ms: number | null;
  backoff_until: number;
}

const COLUMNS = "name, user_name, apihost, auth_sealed, created_at, latency_ms, backoff_until";

export function toBackendInfo(row: BackendRow, nowMs = Date.now()): BackendInfo {
  const info: BackendInfo = {
    name: row.name,
    apihost: row.apihost,
    shared: row.user_name === null,
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
  if (b.shared !== undefined && typeof b.shared !== "boolean")
    throw new FlockError("BAD_REQUEST", "shared must be true or false.");
  // A backend without an owner serves every user, who then see each other's actions and
  // activations there: that must be asked for, never the result of a missing field.
  if ((input.user === undefined) === (b.shared !== true)) {
    throw new FlockError(
      "BAD_REQUEST",
      "Give either user (the one user it serves) or shared: true (every user's calls reach it).",
    );
  }
  if (b.shared === true) input.shared = true;
  // Workers' fetch always verifies TLS certificates: a flag claiming otherwise would mislead.
  if (b.insecure !== undefined) {
    throw new FlockError(
      "BAD_REQUEST",
      "insecure is not supported: the worker always verifies a backend's TLS certificate.",
    );
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
    created_at: nowSeconds(),
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

export interface WskKeyRow {
  uuid: string;
  user_name: string;
  key_hash: string;
  created_at: number;
}

/**
 * Everything one OpenWhisk call needs from D1, in one round trip: the caller key's row and,
 * for the user it names, their backends (own and shared) and policy. The rows are used only
 * after the key's hash has been checked.
 */
export interface CallerTable {
  key: WskKeyRow | undefined;
  policy: RoutingPolicy;
  rows: BackendRow[];
}

export async function loadCallerTable(db: D1Database, uuid: string): Promise<CallerTable> {
  const owner = "(SELECT user_name FROM wsk_keys WHERE uuid = ?)";
  const [key, backends, routing] = await db.batch([
    db.prepare("SELECT uuid, user_name, key_hash, created_at FROM wsk_keys WHERE uuid = ?").bind(uuid),
    db
      .prepare(
        `SELECT ${COLUMNS} FROM ow_backends WHERE user_name = ${owner} OR user_name IS NULL ORDER BY name`,
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
