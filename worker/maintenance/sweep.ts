import { ACTIVATION_AFFINITY_RETENTION_MS } from "../openwhisk/activation-store.ts";

/** How long the audit keeps an issued ticket: long enough to answer "who talked to whom last month". */
export const TICKET_AUDIT_RETENTION_SECONDS = 30 * 24 * 60 * 60;

/** Rows each sweep removed, per table: what the cron logs. */
export interface SweepCounts {
  tickets: number;
  retiredCertificates: number;
  requestNonces: number;
  pairAssignments: number;
  activations: number;
}

/**
 * Deletes rows nothing can use any more, in one round trip: ticket audit rows past their
 * retention, certificates of deleted parties that have expired (no data plane would accept
 * them anyway), and the short-lived rows the request paths sweep only when they write.
 */
export async function sweepExpiredRecords(db: D1Database, now: number): Promise<SweepCounts> {
  const results = await db.batch([
    db.prepare("DELETE FROM tickets WHERE issued_at < ?").bind(now - TICKET_AUDIT_RETENTION_SECONDS),
    db.prepare("DELETE FROM retired_certificates WHERE not_after <= ?").bind(now),
    db.prepare("DELETE FROM request_nonces WHERE expires_at < ?").bind(now),
    db.prepare("DELETE FROM pair_assignments WHERE expires_at <= ?").bind(now),
    db
      .prepare("DELETE FROM ow_activations WHERE created_at < ?")
      .bind(now * 1000 - ACTIVATION_AFFINITY_RETENTION_MS),
  ]);
  const [tickets, retiredCertificates, requestNonces, pairAssignments, activations] = results.map(
    (result) => result.meta.changes,
  );
  return {
    tickets: tickets ?? 0,
    retiredCertificates: retiredCertificates ?? 0,
    requestNonces: requestNonces ?? 0,
    pairAssignments: pairAssignments ?? 0,
    activations: activations ?? 0,
  };
}
