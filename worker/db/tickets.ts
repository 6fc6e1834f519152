/** Audit rows of issued tickets. */
export interface TicketRecord {
  jti: string;
  user: string;
  party: string;
  dest: string;
  pair: string;
  relay: string;
  issuedAt: number;
  expiresAt: number;
}

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

/**
 * Records a ticket on the relay its pair is assigned to, read inside the same statement, so
 * it can share the assignment's batch and name whichever relay won a race.
 */
export function insertTicketForAssignedRelay(
  db: D1Database,
  ticket: Omit<TicketRecord, "relay">,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO tickets (jti, user_name, party, dest, pair, relay, issued_at, expires_at)
       SELECT ?, ?, ?, ?, ?, relay, ?, ? FROM pair_assignments WHERE pair = ?`,
    )
    .bind(
      ticket.jti,
      ticket.user,
      ticket.party,
      ticket.dest,
      ticket.pair,
      ticket.issuedAt,
      ticket.expiresAt,
      ticket.pair,
    );
}

export async function findTicket(db: D1Database, jti: string): Promise<TicketRecord | undefined> {
  const row = await db
    .prepare(
      "SELECT jti, user_name, party, dest, pair, relay, issued_at, expires_at FROM tickets WHERE jti = ?",
    )
    .bind(jti)
    .first<TicketRow>();
  return row ? toTicketRecord(row) : undefined;
}
