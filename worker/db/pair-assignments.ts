import { RELAY_LIVE_SECONDS } from "../../protocol/api.ts";
import type { RelayRow } from "./relays.ts";

/** The assignments' batch failed: no relay was live when it ran. */
export function isNoLiveRelay(error: unknown): boolean {
  return (
    error instanceof Error && error.message.includes("NOT NULL constraint failed: pair_assignments.relay")
  );
}

/** A live relay, as in selectLiveRelays (in SQL over `relays`, `?3` = now - RELAY_LIVE_SECONDS). */
const LIVE = "relays.status = 'active' AND relays.last_report_at > ?3";
/** Not draining: a draining relay reports capacity 0 and takes no new sides. */
const NOT_DRAINING = "(relays.load IS NULL OR json_extract(relays.load, '$.capacity') IS NOT 0)";
/** A relay an assigned pair may stay on: live, and not draining. */
const KEEPS_ITS_PAIRS = `${LIVE} AND ${NOT_DRAINING}`;

/** The relay one side wants for a pair (tickets/choose-relay.ts). */
export interface WantedRelay {
  pair: string;
  relay: string;
}

/** A pair with the relay its assignment names, as the ticket's batch reads it back. */
export type PlacedPair = { pair: string } & Pick<RelayRow, "name" | "hosts" | "port">;

/** Assignments past their expiry: swept by every assignment and by the daily cron. */
export function sweepPairAssignments(db: D1Database, now: number): D1PreparedStatement {
  return db.prepare("DELETE FROM pair_assignments WHERE expires_at <= ?").bind(now);
}

/**
 * (Re)assigns every pair in one statement, judged on the relays table as it is at that
 * moment: an assignment whose relay is still live and not draining (capacity 0) stays, with
 * the new expiry; anything else becomes the wanted relay. No read of the assignments comes
 * first, so there is nothing to go stale between a read and the write: two sides racing each
 * get back whichever assignment the statement left (selectPlacedPairs, later in the same
 * batch), even one to a relay that started reporting after their own read of the live set.
 * An assignment to a relay in `unreachable` (the caller could not reach it) is replaced too.
 * A wanted relay that is no longer live or now drains (the isolate picked it from a live set it
 * remembered) gives way to another live one that is not unreachable, one that does not drain
 * first, by name; with none, the relay is NULL, which fails the statement and so the batch
 * (isNoLiveRelay).
 */
export function assignPairs(
  db: D1Database,
  wanted: WantedRelay[],
  expiresAt: number,
  now: number,
  unreachable: readonly string[] = [],
): D1PreparedStatement {
  // "WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
  return db
    .prepare(
      `INSERT INTO pair_assignments (pair, relay, expires_at)
       SELECT value ->> 'pair',
         COALESCE(
           (SELECT name FROM relays WHERE relays.name = value ->> 'relay' AND ${KEEPS_ITS_PAIRS}),
           (SELECT name FROM relays WHERE ${LIVE}
              AND relays.name NOT IN (SELECT value FROM json_each(?4))
              ORDER BY ${NOT_DRAINING} DESC, name LIMIT 1)
         ),
         ?2
       FROM json_each(?1) WHERE true
       ON CONFLICT (pair) DO UPDATE SET
         relay = CASE WHEN EXISTS (
           SELECT 1 FROM relays WHERE ${KEEPS_ITS_PAIRS}
             AND relays.name = pair_assignments.relay
             AND relays.name NOT IN (SELECT value FROM json_each(?4))
         ) THEN pair_assignments.relay ELSE excluded.relay END,
         expires_at = excluded.expires_at`,
    )
    .bind(JSON.stringify(wanted), expiresAt, now - RELAY_LIVE_SECONDS, JSON.stringify(unreachable));
}

/** Each of `pairs` with the relay it is assigned to (PlacedPair rows), read after assignPairs in its batch. */
export function selectPlacedPairs(db: D1Database, pairs: string[]): D1PreparedStatement {
  return db
    .prepare(
      `SELECT pair_assignments.pair AS pair, relays.name AS name, relays.hosts AS hosts, relays.port AS port
       FROM pair_assignments JOIN relays ON relays.name = pair_assignments.relay
       WHERE pair_assignments.pair IN (SELECT value FROM json_each(?1))`,
    )
    .bind(JSON.stringify(pairs));
}

/**
 * The relay `pair` is assigned to (`{relay, expiresAt}`), unless its assignment has expired by
 * `now`: what a side waiting for its peer asks for (tickets/pair-relay-lookup.ts).
 */
export function selectAssignedRelay(db: D1Database, pair: string, now: number): D1PreparedStatement {
  return db
    .prepare("SELECT relay, expires_at AS expiresAt FROM pair_assignments WHERE pair = ? AND expires_at > ?")
    .bind(pair, now);
}
