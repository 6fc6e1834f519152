import type { Page, TicketInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { type PageQuery, toPage } from "./pagination.ts";
import { isoFromSeconds } from "./time.ts";

/** Audit rows of issued tickets: the API's TicketInfo with unix seconds for times. */
export type TicketRecord = Omit<TicketInfo, "issuedAt" | "expiresAt"> & {
  issuedAt: number;
  expiresAt: number;
};

interface TicketRow {
  jti: string;
  user_name: string;
  party: string;
  dest: string;
  pair: string;
  relay: string;
  issued_at: number;
  expires_at: number;
}

const COLUMNS = "jti, user_name, party, dest, pair, relay, issued_at, expires_at";

function toTicketRecord(row: TicketRow): TicketRecord {
  return {
    jti: row.jti,
    user: row.user_name,
    party: row.party,
    dest: row.dest,
    pair: row.pair,
    relay: row.relay,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
  };
}

/** One ticket of a request, as the audit records it (the relay is read from its pair's assignment). */
export type NewTicket = Pick<TicketRecord, "jti" | "dest" | "pair">;

/**
 * Records the tickets of one request, each on the relay its pair is assigned to, read inside
 * the same statement, so it can share the assignments' batch and names whichever relay won a
 * race.
 */
export function insertTicketsForAssignedRelays(
  db: D1Database,
  issued: { user: string; party: string; issuedAt: number; expiresAt: number },
  tickets: NewTicket[],
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO tickets (jti, user_name, party, dest, pair, relay, issued_at, expires_at)
       SELECT t.value ->> 'jti', ?2, ?3, t.value ->> 'dest', t.value ->> 'pair', pa.relay, ?4, ?5
       FROM json_each(?1) AS t JOIN pair_assignments AS pa ON pa.pair = t.value ->> 'pair'`,
    )
    .bind(JSON.stringify(tickets), issued.user, issued.party, issued.issuedAt, issued.expiresAt);
}

/**
 * A user's ticket audit, newest first, optionally of one party. The cursor is the last row's
 * (issued_at, jti). Rows outlive a deleted user, so an unknown name lists nothing rather
 * than failing: the audit of a user who is gone stays readable.
 */
export async function listTickets(
  db: D1Database,
  user: string,
  party: string | undefined,
  query: PageQuery,
): Promise<Page<TicketInfo>> {
  const [issuedAt = "", jti = ""] = query.after;
  if (issuedAt !== "" && !/^[0-9]{1,12}$/.test(issuedAt)) {
    throw new FlockError("BAD_REQUEST", "The cursor is not one this list handed out.");
  }
  // Two statements rather than "party IS NULL OR ...", so each one has an index to walk.
  const where = party === undefined ? "user_name = ?1" : "user_name = ?1 AND party = ?2";
  const { results } = await db
    .prepare(
      `SELECT ${COLUMNS} FROM tickets WHERE ${where}
       AND (?3 = '' OR (issued_at, jti) < (CAST(?3 AS INTEGER), ?4))
       ORDER BY issued_at DESC, jti DESC LIMIT ?5`,
    )
    .bind(user, party ?? null, issuedAt, jti, query.limit + 1)
    .all<TicketRow>();
  return toPage(results, query, (row) => [String(row.issued_at), row.jti], toTicketInfo);
}

function toTicketInfo(row: TicketRow): TicketInfo {
  const record = toTicketRecord(row);
  return {
    ...record,
    issuedAt: isoFromSeconds(record.issuedAt),
    expiresAt: isoFromSeconds(record.expiresAt),
  };
}
