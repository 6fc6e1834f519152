import { RELAY_LIVE_SECONDS } from "../../protocol/api.ts";
import { type RelayRow, selectRelayOfPair } from "./relays.ts";

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

export interface PairAssignmentRow {
  relay: string;
  expires_at: number;
}

export function toPairAssignment(row: PairAssignmentRow | undefined): PairAssignment | undefined {
  return row ? { relay: row.relay, expiresAt: row.expires_at } : undefined;
}

/** For batching with other reads; map the first row with `toPairAssignment`. */
export function selectPairAssignment(db: D1Database, pair: string, now: number): D1PreparedStatement {
  return db
    .prepare("SELECT relay, expires_at FROM pair_assignments WHERE pair = ? AND expires_at > ?")
    .bind(pair, now);
}

export async function findPairAssignment(
  db: D1Database,
  pair: string,
  now: number,
): Promise<PairAssignment | undefined> {
  return toPairAssignment(
    (await selectPairAssignment(db, pair, now).first<PairAssignmentRow>()) ?? undefined,
  );
}

/** Statements to run in the assignment's batch: before it, and after it (reading the result). */
export interface AlsoRun {
  before?: D1PreparedStatement[];
  after?: D1PreparedStatement[];
}

/**
 * (Re)assigns the pair in one statement, judged on the relays table as it is at that moment:
 * an assignment whose relay is still live and not draining (capacity 0) stays, with the new
 * expiry; anything else becomes `relay`. No read of the assignment comes first, so there is
 * nothing to go stale between a read and the write: two sides racing each get back whichever
 * assignment the statement left, even one to a relay that started reporting after their own
 * read of the live set. Expired rows are swept first. Answers the assigned relay's row; the
 * `also` statements run in the same batch (one round trip, one transaction).
 */
export async function assignPair(
  db: D1Database,
  pair: string,
  relay: string,
  expiresAt: number,
  now: number,
  also: AlsoRun = {},
): Promise<RelayRow> {
  const before = also.before ?? [];
  const results = await db.batch([
    ...before,
    db.prepare("DELETE FROM pair_assignments WHERE expires_at <= ?").bind(now),
    db
      .prepare(
        `INSERT INTO pair_assignments (pair, relay, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (pair) DO UPDATE SET
           relay = CASE WHEN EXISTS (
             SELECT 1 FROM relays WHERE ${KEEPS_ITS_PAIRS}
               AND relays.name = pair_assignments.relay
           ) THEN pair_assignments.relay ELSE excluded.relay END,
           expires_at = excluded.expires_at`,
      )
      .bind(pair, relay, expiresAt, now - RELAY_LIVE_SECONDS),
    selectRelayOfPair(db, pair),
    ...(also.after ?? []),
  ]);
  const assigned = results[before.length + 2]?.results[0] as RelayRow | undefined;
  if (assigned === undefined) throw new Error("pair assignment vanished after upsert");
  return assigned;
}
