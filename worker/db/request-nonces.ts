import { isUniqueViolation } from "./d1-errors.ts";

/** Nonces past the skew window: swept by every record and by the daily cron. */
export function sweepRequestNonces(db: D1Database, now: number): D1PreparedStatement {
  return db.prepare("DELETE FROM request_nonces WHERE expires_at < ?").bind(now);
}

/**
 * Records a signed request's jti for its signer. Returns false if it was already there:
 * the request is a replay. Expired nonces are swept on the way, so the table holds at
 * most one skew window of requests.
 */
export async function claimRequestNonce(
  db: D1Database,
  signer: string,
  jti: string,
  expiresAt: number,
  now: number,
): Promise<boolean> {
  const [, insert] = await db.batch([
    sweepRequestNonces(db, now),
    db
      .prepare("INSERT INTO request_nonces (signer, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
      .bind(signer, jti, expiresAt),
  ]);
  return (insert?.meta.changes ?? 0) === 1;
}

/**
 * The same record as statements for a caller's write batch, with no ON CONFLICT: a jti
 * already there fails the statement and so the whole batch (one transaction), so nothing a
 * replayed request would have written is kept. Tell that failure by isReplayedNonce.
 */
export function recordRequestNonce(
  db: D1Database,
  signer: string,
  jti: string,
  expiresAt: number,
  now: number,
): D1PreparedStatement[] {
  return [
    sweepRequestNonces(db, now),
    db
      .prepare("INSERT INTO request_nonces (signer, jti, expires_at) VALUES (?, ?, ?)")
      .bind(signer, jti, expiresAt),
  ];
}

/** The batch failed because recordRequestNonce met a jti already used by that signer. */
export function isReplayedNonce(error: unknown): boolean {
  return isUniqueViolation(error) && /request_nonces\./.test((error as Error).message);
}
