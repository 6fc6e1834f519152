/** Users' signed revocation lists, stored and served as their CLI made them. */
import type { RevocationListInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import type { RevocationList } from "../../protocol/revocation-list.ts";
import { isForeignKeyViolation } from "./d1-errors.ts";
import { isoFromSeconds } from "./time.ts";

interface RevocationListRow {
  user_name: string;
  seq: number;
  list: string;
  parties: string;
  published_at: number;
}

function toRevocationListInfo(row: RevocationListRow): RevocationListInfo {
  return {
    user: row.user_name,
    seq: row.seq,
    parties: JSON.parse(row.parties) as string[],
    publishedAt: isoFromSeconds(row.published_at),
  };
}

/** The list text as it was stored, or null when the user never published one (or does not exist). */
export async function findRevocationList(db: D1Database, user: string): Promise<string | null> {
  const row = await db
    .prepare("SELECT list FROM revocation_lists WHERE user_name = ?")
    .bind(user)
    .first<{ list: string }>();
  return row?.list ?? null;
}

/**
 * Stores `jws` (whose claims are `list`) unless the stored list's seq is as high or higher:
 * the upsert only writes when the new seq is greater, so of two racing publications the newer
 * one wins and the other gets REVOCATION_LIST_STALE.
 */
export async function storeRevocationList(
  db: D1Database,
  jws: string,
  list: RevocationList,
  now: number,
): Promise<RevocationListInfo> {
  let row: RevocationListRow | null;
  try {
    row = await db
      .prepare(
        `INSERT INTO revocation_lists (user_name, seq, list, parties, published_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user_name) DO UPDATE SET
           seq = excluded.seq, list = excluded.list, parties = excluded.parties, published_at = excluded.published_at
         WHERE excluded.seq > revocation_lists.seq
         RETURNING user_name, seq, list, parties, published_at`,
      )
      .bind(list.user, list.seq, jws, JSON.stringify(list.parties), now)
      .first<RevocationListRow>();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new FlockError("USER_NOT_FOUND");
    throw error;
  }
  if (!row) throw new FlockError("REVOCATION_LIST_STALE");
  return toRevocationListInfo(row);
}
