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

/**
 * Compare-and-set: (re)assigns the pair to `relay` only if the stored assignment is still
 * the one the caller saw (`expected`, or none/expired). Two sides racing each get back
 * whichever assignment won, so they still meet on one relay. Expired rows are swept first.
 * `alsoRun` statements run in the same batch (one round trip), after the assignment.
 */
export async function assignPair(
  db: D1Database,
  pair: string,
  relay: string,
  expected: string | undefined,
  expiresAt: number,
  now: number,
  alsoRun: D1PreparedStatement[] = [],
): Promise<string> {
  const [, , current] = await db.batch<{ relay: string }>([
    db.prepare("DELETE FROM pair_assignments WHERE expires_at <= ?").bind(now),
    db
      .prepare(
        `INSERT INTO pair_assignments (pair, relay, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (pair) DO UPDATE SET relay = excluded.relay, expires_at = excluded.expires_at
         WHERE pair_assignments.expires_at <= ? OR pair_assignments.relay IS ?`,
      )
      .bind(pair, relay, expiresAt, now, expected ?? null),
    db.prepare("SELECT relay FROM pair_assignments WHERE pair = ?").bind(pair),
    ...alsoRun,
  ]);
  const winner = current?.results[0]?.relay;
  if (winner === undefined) throw new Error("pair assignment vanished after upsert");
  return winner;
}
