/** Token buckets of ticket issuance, one per party (tickets/rate-limit.ts says how they fill). */
import { isCheckViolation } from "./d1-errors.ts";

export interface TicketBucketRow {
  tokens: number;
  updated_at: number;
}

/** The bucket of the party whose relay certificate has this fingerprint, for the ticket's read batch. */
export function selectBucketOfSigner(db: D1Database, fingerprint: string): D1PreparedStatement {
  return db
    .prepare(
      `SELECT tokens, updated_at FROM ticket_buckets
       WHERE (user_name, party) = (SELECT user_name, name FROM parties WHERE fingerprint = ?)`,
    )
    .bind(fingerprint);
}

/**
 * Refills the party's bucket for the seconds since its last take (at most to `burst`) and
 * takes `count` tokens, in the ticket's write batch. A bucket that would go below zero fails
 * the statement, and so the batch: tell that failure by isBucketEmpty. A clock that went back
 * refills nothing.
 */
export function takeTickets(
  db: D1Database,
  user: string,
  party: string,
  count: number,
  limit: { perSecond: number; burst: number },
  now: number,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO ticket_buckets (user_name, party, tokens, updated_at) VALUES (?1, ?2, ?3 - ?4, ?5)
       ON CONFLICT (user_name, party) DO UPDATE SET
         tokens = min(?3, tokens + max(0, ?5 - updated_at) * ?6) - ?4,
         updated_at = max(updated_at, ?5)`,
    )
    .bind(user, party, limit.burst, count, now, limit.perSecond);
}

export function isBucketEmpty(error: unknown): boolean {
  return isCheckViolation(error, "ticket_bucket_not_empty");
}
