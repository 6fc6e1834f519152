import type { Page, RelayInfo, RelayLoad, RelayStatus } from "../../protocol/api.ts";
import { RELAY_LIVE_SECONDS } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { isUniqueViolation } from "./d1-errors.ts";
import { forgetLiveRelays } from "./live-relay-cache.ts";
import { type PageQuery, toPage } from "./pagination.ts";
import { isoFromSeconds } from "./time.ts";

export interface RelayRow {
  name: string;
  hosts: string;
  port: number;
  cert: string;
  fingerprint: string;
  not_after: number;
  created_at: number;
  last_report_at: number | null;
  load: string | null;
  status: RelayStatus;
  revoked_at: number | null;
}

/** Where a ticket sends its holder: what ticket issuing needs of the pair's relay. */
export interface RelayEndpoint {
  name: string;
  hosts: string[];
  port: number;
}

export const RELAY_COLUMNS =
  "name, hosts, port, cert, fingerprint, not_after, created_at, last_report_at, load, status, revoked_at";

/** Gets new tickets: active and reported within RELAY_LIVE_SECONDS. */
export function isLive(row: RelayRow, now: number): boolean {
  return (
    row.status === "active" && row.last_report_at !== null && row.last_report_at > now - RELAY_LIVE_SECONDS
  );
}

export function toRelayEndpoint(row: Pick<RelayRow, "name" | "hosts" | "port">): RelayEndpoint {
  return { name: row.name, hosts: JSON.parse(row.hosts) as string[], port: row.port };
}

export function toRelayInfo(row: RelayRow, now: number): RelayInfo {
  const info: RelayInfo = {
    ...toRelayEndpoint(row),
    fingerprint: row.fingerprint,
    createdAt: isoFromSeconds(row.created_at),
    status: row.status,
    live: isLive(row, now),
  };
  if (row.revoked_at !== null) info.revokedAt = isoFromSeconds(row.revoked_at);
  if (row.last_report_at !== null) info.lastReportAt = isoFromSeconds(row.last_report_at);
  if (row.load !== null) info.load = JSON.parse(row.load) as RelayLoad;
  return info;
}

export interface NewRelay extends RelayEndpoint {
  cert: string;
  fingerprint: string;
  notAfter: number;
}

export async function insertRelay(db: D1Database, relay: NewRelay, now: number): Promise<RelayInfo> {
  const row: RelayRow = {
    name: relay.name,
    hosts: JSON.stringify(relay.hosts),
    port: relay.port,
    cert: relay.cert,
    fingerprint: relay.fingerprint,
    not_after: relay.notAfter,
    created_at: now,
    last_report_at: null,
    load: null,
    status: "active",
    revoked_at: null,
  };
  try {
    await db
      .prepare(`INSERT INTO relays (${RELAY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .bind(
        row.name,
        row.hosts,
        row.port,
        row.cert,
        row.fingerprint,
        row.not_after,
        row.created_at,
        row.last_report_at,
        row.load,
        row.status,
        row.revoked_at,
      )
      .run();
  } catch (error) {
    if (isUniqueViolation(error)) throw new FlockError("RELAY_EXISTS");
    throw error;
  }
  return toRelayInfo(row, now);
}

export async function findRelay(db: D1Database, name: string): Promise<RelayRow | undefined> {
  const row = await db
    .prepare(`SELECT ${RELAY_COLUMNS} FROM relays WHERE name = ?`)
    .bind(name)
    .first<RelayRow>();
  return row ?? undefined;
}

export async function findRelayByFingerprint(
  db: D1Database,
  fingerprint: string,
): Promise<RelayRow | undefined> {
  const row = await db
    .prepare(`SELECT ${RELAY_COLUMNS} FROM relays WHERE fingerprint = ?`)
    .bind(fingerprint)
    .first<RelayRow>();
  return row ?? undefined;
}

export async function listRelays(db: D1Database, query: PageQuery, now: number): Promise<Page<RelayInfo>> {
  const { results } = await db
    .prepare(`SELECT ${RELAY_COLUMNS} FROM relays WHERE name > ? ORDER BY name LIMIT ?`)
    .bind(query.after[0], query.limit + 1)
    .all<RelayRow>();
  return toPage(
    results,
    query,
    (row) => [row.name],
    (row) => toRelayInfo(row, now),
  );
}

/** What choosing a relay needs of each live one (tickets/choose-relay.ts). */
export type LiveRelay = Pick<RelayRow, "name" | "load">;

/** Active relays that reported within RELAY_LIVE_SECONDS, by name: the ones that get tickets. */
export function selectLiveRelays(db: D1Database, now: number): D1PreparedStatement {
  return db
    .prepare("SELECT name, load FROM relays WHERE last_report_at > ? AND status = 'active' ORDER BY name")
    .bind(now - RELAY_LIVE_SECONDS);
}

/** A data plane's load report, for the report's batch. */
export function updateRelayLoad(
  db: D1Database,
  name: string,
  load: RelayLoad,
  now: number,
): D1PreparedStatement {
  return db
    .prepare("UPDATE relays SET load = ?, last_report_at = ? WHERE name = ?")
    .bind(JSON.stringify(load), now, name);
}

/**
 * Idempotent: revoking twice keeps the first revocation time. The row stays, so the name
 * cannot be registered again while the old certificate is still within its validity.
 */
export async function revokeRelay(db: D1Database, name: string, now: number): Promise<RelayInfo> {
  const row = await db
    .prepare(
      `UPDATE relays SET status = 'revoked', revoked_at = COALESCE(revoked_at, ?)
       WHERE name = ? RETURNING ${RELAY_COLUMNS}`,
    )
    .bind(now, name)
    .first<RelayRow>();
  if (!row) throw new FlockError("RELAY_NOT_FOUND");
  forgetLiveRelays();
  return toRelayInfo(row, now);
}
