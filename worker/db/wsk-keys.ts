/** Caller keys of the OpenWhisk API: only a SHA-256 of each key is stored (openwhisk/wsk-keys.ts makes them). */
import type { WskKeyInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { forgetCallers } from "./caller-cache.ts";
import { isForeignKeyViolation } from "./d1-errors.ts";
import { isoFromSeconds } from "./time.ts";

export interface WskKeyRow {
  uuid: string;
  user_name: string;
  /** base64url SHA-256 of the key. */
  key_hash: string;
  created_at: number;
}

export const WSK_KEY_COLUMNS = "uuid, user_name, key_hash, created_at";

export function toWskKeyInfo(row: WskKeyRow): WskKeyInfo {
  return { uuid: row.uuid, user: row.user_name, createdAt: isoFromSeconds(row.created_at) };
}

/** No cache to clear: unknown uuids are never cached, so a new key works at once everywhere. */
export async function insertWskKey(db: D1Database, row: WskKeyRow): Promise<WskKeyInfo> {
  try {
    await db
      .prepare(`INSERT INTO wsk_keys (${WSK_KEY_COLUMNS}) VALUES (?, ?, ?, ?)`)
      .bind(row.uuid, row.user_name, row.key_hash, row.created_at)
      .run();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new FlockError("USER_NOT_FOUND");
    throw error;
  }
  return toWskKeyInfo(row);
}

export async function listWskKeys(db: D1Database, user: string): Promise<WskKeyInfo[]> {
  const { results } = await db
    .prepare(`SELECT ${WSK_KEY_COLUMNS} FROM wsk_keys WHERE user_name = ? ORDER BY uuid`)
    .bind(user)
    .all<WskKeyRow>();
  return results.map(toWskKeyInfo);
}

export async function deleteWskKey(db: D1Database, user: string, uuid: string): Promise<WskKeyInfo> {
  const row = await db
    .prepare(`DELETE FROM wsk_keys WHERE user_name = ? AND uuid = ? RETURNING ${WSK_KEY_COLUMNS}`)
    .bind(user, uuid)
    .first<WskKeyRow>();
  if (!row) throw new FlockError("WSK_KEY_NOT_FOUND");
  forgetCallers();
  return toWskKeyInfo(row);
}
