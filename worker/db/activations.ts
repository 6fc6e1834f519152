/** Which backend holds which activation (ow_activations), for `activation get` under `_`. */

/** Activations older than this are forgotten; OpenWhisk deployments keep them about a week by default. */
export const ACTIVATION_AFFINITY_RETENTION_SECONDS = 7 * 24 * 60 * 60;

/**
 * Remembers (or moves) an activation. Skipped when its user or backend is gone meanwhile: the
 * row could only fail its foreign keys, and with them the whole bookkeeping batch it rides in.
 */
export function upsertActivation(
  db: D1Database,
  user: string,
  activationId: string,
  backend: string,
  createdAt: number,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO ow_activations (user_name, activation_id, backend, created_at)
       SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM users WHERE name = ?1)
         AND EXISTS (SELECT 1 FROM ow_backends WHERE name = ?3)
       ON CONFLICT (user_name, activation_id) DO UPDATE SET backend = excluded.backend`,
    )
    .bind(user, activationId, backend, createdAt);
}

export function deleteActivationsBefore(db: D1Database, before: number): D1PreparedStatement {
  return db.prepare("DELETE FROM ow_activations WHERE created_at < ?").bind(before);
}

export async function findActivationBackend(
  db: D1Database,
  user: string,
  activationId: string,
): Promise<string | undefined> {
  const row = await db
    .prepare("SELECT backend FROM ow_activations WHERE user_name = ? AND activation_id = ?")
    .bind(user, activationId)
    .first<{ backend: string }>();
  return row?.backend;
}
