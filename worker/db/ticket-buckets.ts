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

/** The request a take is for: who asks, with which certificate, for whom. */
export interface TicketTake {
  user: string;
  party: string;
  fingerprint: string;
  dests: string[];
}

/**
 * Refills the party's bucket for the seconds since its last take (at most to `burst`) and
 * takes a token per destination, in the tickets' write batch. It refuses (tokens would go
 * below zero, failing the statement and so the batch: isTakeRefused) when the bucket is empty,
 * and also when, as the transaction sees D1, the certificate is no longer an active, unexpired
 * party's or a destination is missing or revoked: so a batch built from what an isolate remembered writes
 * nothing for a request that is no longer valid. A clock that went back refills nothing.
 */
export function takeTickets(
  db: D1Database,
  take: TicketTake,
  limit: { perSecond: number; burst: number },
  now: number,
): D1PreparedStatement {
  const stillValid = `EXISTS (SELECT 1 FROM parties WHERE fingerprint = ?7 AND user_name = ?1 AND name = ?2
      AND status = 'active' AND not_after > ?5)
    AND (SELECT count(*) FROM parties WHERE user_name = ?1 AND status = 'active'
         AND name IN (SELECT value FROM json_each(?8))) = ?4`;
  return db
    .prepare(
      `INSERT INTO ticket_buckets (user_name, party, tokens, updated_at)
       SELECT ?1, ?2, CASE WHEN ${stillValid} THEN ?3 - ?4 ELSE -1 END, ?5 WHERE true
       ON CONFLICT (user_name, party) DO UPDATE SET
         tokens = CASE WHEN ${stillValid}
           THEN min(?3, tokens + max(0, ?5 - updated_at) * ?6) - ?4 ELSE -1 END,
         updated_at = max(updated_at, ?5)`,
    )
    .bind(
      take.user,
      take.party,
      limit.burst,
      take.dests.length,
      now,
      limit.perSecond,
      take.fingerprint,
      JSON.stringify(take.dests),
    );
}

export function isTakeRefused(error: unknown): boolean {
  return isCheckViolation(error, "ticket_bucket_not_empty");
}
