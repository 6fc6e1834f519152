import { ACTIVATION_AFFINITY_RETENTION_SECONDS, deleteActivationsBefore } from "./activations.ts";
import { changes, runBatch } from "./batch.ts";
import { sweepPairAssignments } from "./pair-assignments.ts";
import { sweepRequestNonces } from "./request-nonces.ts";

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
  const swept = await runBatch(db, {
    tickets: db.prepare("DELETE FROM tickets WHERE issued_at < ?").bind(now - TICKET_AUDIT_RETENTION_SECONDS),
    retiredCertificates: db.prepare("DELETE FROM retired_certificates WHERE not_after <= ?").bind(now),
    requestNonces: sweepRequestNonces(db, now),
    pairAssignments: sweepPairAssignments(db, now),
    activations: deleteActivationsBefore(db, now - ACTIVATION_AFFINITY_RETENTION_SECONDS),
  });
  return {
    tickets: changes(swept.tickets),
    retiredCertificates: changes(swept.retiredCertificates),
    requestNonces: changes(swept.requestNonces),
    pairAssignments: changes(swept.pairAssignments),
    activations: changes(swept.activations),
  };
}
