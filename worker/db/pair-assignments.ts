import { RELAY_LIVE_SECONDS } from "../../protocol/api.ts";
import { RELAY_COLUMNS } from "./relays.ts";

/**
 * A relay an assigned pair may stay on (in SQL over `relays`, `?4` = now - RELAY_LIVE_SECONDS):
 * live, as in selectLiveRelays, and not draining, since a draining relay takes no new sides.
 */
const KEEPS_ITS_PAIRS = `relays.status = 'active' AND relays.last_report_at > ?4
  AND (relays.load IS NULL OR json_extract(relays.load, '$.capacity') IS NOT 0)`;

export interface PairAssignment {
  relay: string;
  expiresAt: number;
}

export async function findPairAssignment(
  db: D1Database,
  pair: string,
  now: number,
): Promise<PairAssignment | undefined> {
  const row = await db
    .prepare("SELECT relay, expires_at FROM pair_assignments WHERE pair = ? AND expires_at > ?")
    .bind(pair, now)
    .first<{ relay: string; expires_at: number }>();
  return row ? { relay: row.relay, expiresAt: row.expires_at } : undefined;
}

/** Assignments past their expiry: swept by every assignment and by the daily cron. */
export function sweepPairAssignments(db: D1Database, now: number): D1PreparedStatement {
  return db.prepare("DELETE FROM pair_assignments WHERE expires_at <= ?").bind(now);
}

/**
 * (Re)assigns the pair in one statement, judged on the relays table as it is at that moment:
 * an assignment whose relay is still live and not draining (capacity 0) stays, with the new
 * expiry; anything else becomes `relay`. No read of the assignment comes first, so there is
 * nothing to go stale between a read and the write: two sides racing each get back whichever
 * assignment the statement left (selectAssignedRelay, later in the same batch), even one to a
 * relay that started reporting after their own read of the live set.
 */
export function assignPair(
  db: D1Database,
  pair: string,
  relay: string,
  expiresAt: number,
  now: number,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO pair_assignments (pair, relay, expires_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (pair) DO UPDATE SET
         relay = CASE WHEN EXISTS (
           SELECT 1 FROM relays WHERE ${KEEPS_ITS_PAIRS}
             AND relays.name = pair_assignments.relay
         ) THEN pair_assignments.relay ELSE excluded.relay END,
         expires_at = excluded.expires_at`,
    )
    .bind(pair, relay, expiresAt, now - RELAY_LIVE_SECONDS);
}

/** The row (RelayRow) of the relay the pair is assigned to, read after assignPair in its batch. */
export function selectAssignedRelay(db: D1Database, pair: string): D1PreparedStatement {
  return db
    .prepare(
      `SELECT ${RELAY_COLUMNS} FROM relays WHERE name = (SELECT relay FROM pair_assignments WHERE pair = ?)`,
    )
    .bind(pair);
}
