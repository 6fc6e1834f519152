import type { Page, PartyInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { isForeignKeyViolation, isUniqueViolation } from "./d1-errors.ts";
import { type PageQuery, toPage } from "./pagination.ts";
import { isoFromSeconds } from "./time.ts";

export interface PartyRow {
  user_name: string;
  name: string;
  status: "active" | "revoked";
  relay_cert: string;
  fingerprint: string;
  not_after: number;
  created_at: number;
  revoked_at: number | null;
}

const COLUMNS = "user_name, name, status, relay_cert, fingerprint, not_after, created_at, revoked_at";

export function toPartyInfo(row: PartyRow): PartyInfo {
  const info: PartyInfo = {
    user: row.user_name,
    name: row.name,
    status: row.status,
    fingerprint: row.fingerprint,
    notAfter: isoFromSeconds(row.not_after),
    createdAt: isoFromSeconds(row.created_at),
  };
  if (row.revoked_at !== null) info.revokedAt = isoFromSeconds(row.revoked_at);
  return info;
}

export interface NewParty {
  user: string;
  name: string;
  relayCert: string;
  fingerprint: string;
  notAfter: number;
}

export async function insertParty(db: D1Database, party: NewParty, now: number): Promise<PartyInfo> {
  const row: PartyRow = {
    user_name: party.user,
    name: party.name,
    status: "active",
    relay_cert: party.relayCert,
    fingerprint: party.fingerprint,
    not_after: party.notAfter,
    created_at: now,
    revoked_at: null,
  };
  try {
    await db
      .prepare(`INSERT INTO parties (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .bind(
        row.user_name,
        row.name,
        row.status,
        row.relay_cert,
        row.fingerprint,
        row.not_after,
        row.created_at,
        row.revoked_at,
      )
      .run();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new FlockError("USER_NOT_FOUND");
    if (isUniqueViolation(error)) throw new FlockError("PARTY_EXISTS");
    throw error;
  }
  return toPartyInfo(row);
}

export async function findParty(db: D1Database, user: string, name: string): Promise<PartyRow | undefined> {
  const row = await db
    .prepare(`SELECT ${COLUMNS} FROM parties WHERE user_name = ? AND name = ?`)
    .bind(user, name)
    .first<PartyRow>();
  return row ?? undefined;
}

/** For batching with other reads. */
export function selectPartyByFingerprint(db: D1Database, fingerprint: string): D1PreparedStatement {
  return db.prepare(`SELECT ${COLUMNS} FROM parties WHERE fingerprint = ?`).bind(fingerprint);
}

/** What a ticket needs of its destination. */
export type DestRow = Pick<PartyRow, "name" | "status">;

/**
 * The parties called `names` of the same user as the party whose relay certificate has this
 * fingerprint (never another user's), so the lookup can share a batch with that party's own.
 */
export function selectDestsOfSigner(
  db: D1Database,
  fingerprint: string,
  names: string[],
): D1PreparedStatement {
  return db
    .prepare(
      `SELECT name, status FROM parties
       WHERE user_name = (SELECT user_name FROM parties WHERE fingerprint = ?1)
         AND name IN (SELECT value FROM json_each(?2))`,
    )
    .bind(fingerprint, JSON.stringify(names));
}

/** Idempotent: revoking twice keeps the first revocation time. */
export async function revokeParty(
  db: D1Database,
  user: string,
  name: string,
  now: number,
): Promise<PartyInfo> {
  const row = await db
    .prepare(
      `UPDATE parties SET status = 'revoked', revoked_at = COALESCE(revoked_at, ?)
       WHERE user_name = ? AND name = ? RETURNING ${COLUMNS}`,
    )
    .bind(now, user, name)
    .first<PartyRow>();
  if (!row) throw new FlockError("PARTY_NOT_FOUND");
  return toPartyInfo(row);
}

export async function listPartiesOfUser(
  db: D1Database,
  user: string,
  query: PageQuery,
): Promise<Page<PartyInfo>> {
  const { results } = await db
    .prepare(`SELECT ${COLUMNS} FROM parties WHERE user_name = ? AND name > ? ORDER BY name LIMIT ?`)
    .bind(user, query.after[0], query.limit + 1)
    .all<PartyRow>();
  return toPage(results, query, (row) => [row.name], toPartyInfo);
}

export async function listAllParties(db: D1Database, query: PageQuery): Promise<Page<PartyInfo>> {
  const { results } = await db
    .prepare(
      `SELECT ${COLUMNS} FROM parties WHERE (user_name, name) > (?, ?) ORDER BY user_name, name LIMIT ?`,
    )
    .bind(query.after[0], query.after[1], query.limit + 1)
    .all<PartyRow>();
  return toPage(results, query, (row) => [row.user_name, row.name], toPartyInfo);
}

/**
 * Relay certificates data planes must refuse while they are still within their validity:
 * those of revoked parties and those of parties deleted with their user. Map with toFingerprints.
 */
export function selectRevokedFingerprints(db: D1Database, now: number): D1PreparedStatement {
  return db
    .prepare(
      `SELECT fingerprint FROM parties WHERE status = 'revoked' AND not_after > ?1
       UNION SELECT fingerprint FROM retired_certificates WHERE not_after > ?1
       ORDER BY fingerprint`,
    )
    .bind(now);
}

export function toFingerprints(result: D1Result): string[] {
  return (result.results as Array<{ fingerprint: string }>).map((row) => row.fingerprint);
}
