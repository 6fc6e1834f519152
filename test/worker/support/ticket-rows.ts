/**
 * Reads of what a ticket request wrote (its pair's assignment, its audit row), straight from
 * D1.
 */
import { selectAssignedRelay } from "../../../worker/db/pair-assignments.ts";
import type { TicketRecord } from "../../../worker/db/tickets.ts";

export interface PairAssignment {
  relay: string;
  expiresAt: number;
}

/** The relay a pair is assigned to, unless its assignment has expired by `now`. */
export async function findPairAssignment(
  db: D1Database,
  pair: string,
  now: number,
): Promise<PairAssignment | undefined> {
  return (await selectAssignedRelay(db, pair, now).first<PairAssignment>()) ?? undefined;
}

/** A ticket's audit row, with unix seconds for times. */
export async function findTicket(db: D1Database, jti: string): Promise<TicketRecord | undefined> {
  const row = await db
    .prepare(
      `SELECT jti, user_name AS user, party, dest, pair, relay, issued_at AS issuedAt, expires_at AS expiresAt
       FROM tickets WHERE jti = ?`,
    )
    .bind(jti)
    .first<TicketRecord>();
  return row ?? undefined;
}
