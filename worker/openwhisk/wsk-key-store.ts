/**
 * Caller keys for the OpenWhisk API. A key is 64 random base64url characters (384 bits);
 * only its SHA-256 is stored, so a leaked table grants nothing, and the check compares
 * digests in constant time.
 */
import type { IssuedWskKey, WskKeyInfo } from "../../protocol/api.ts";
import { sha256, timingSafeEqualText, toBase64Url } from "../../protocol/encoding.ts";
import { FlockError } from "../../protocol/errors.ts";
import { isForeignKeyViolation } from "../db/constraint.ts";
import { isoFromSeconds, nowSeconds } from "../db/time.ts";
import type { WskKeyRow } from "./backend-store.ts";

export const WSK_KEY_RANDOM_BYTES = 48;
/** Compared against when the uuid is unknown, so a miss costs the same as a wrong key. */
const ABSENT_KEY_HASH = "0".repeat(43);
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function toInfo(row: WskKeyRow): WskKeyInfo {
  return { uuid: row.uuid, user: row.user_name, createdAt: isoFromSeconds(row.created_at) };
}

async function keyHash(key: string): Promise<string> {
  return toBase64Url(await sha256(key));
}

export async function issueWskKey(db: D1Database, user: string): Promise<IssuedWskKey> {
  const uuid = crypto.randomUUID();
  const key = toBase64Url(crypto.getRandomValues(new Uint8Array(WSK_KEY_RANDOM_BYTES)));
  const row: WskKeyRow = { uuid, user_name: user, key_hash: await keyHash(key), created_at: nowSeconds() };
  try {
    await db
      .prepare("INSERT INTO wsk_keys (uuid, user_name, key_hash, created_at) VALUES (?, ?, ?, ?)")
      .bind(row.uuid, row.user_name, row.key_hash, row.created_at)
      .run();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new FlockError("USER_NOT_FOUND");
    throw error;
  }
  return { item: toInfo(row), uuid, key };
}

export async function listWskKeys(db: D1Database, user: string): Promise<WskKeyInfo[]> {
  const { results } = await db
    .prepare("SELECT uuid, user_name, key_hash, created_at FROM wsk_keys WHERE user_name = ? ORDER BY uuid")
    .bind(user)
    .all<WskKeyRow>();
  return results.map(toInfo);
}

export async function revokeWskKey(db: D1Database, user: string, uuid: string): Promise<WskKeyInfo> {
  const row = await db
    .prepare(
      "DELETE FROM wsk_keys WHERE user_name = ? AND uuid = ? RETURNING uuid, user_name, key_hash, created_at",
    )
    .bind(user, uuid)
    .first<WskKeyRow>();
  if (!row) throw new FlockError("WSK_KEY_NOT_FOUND");
  return toInfo(row);
}

export function isWskKeyUuid(uuid: string): boolean {
  return UUID_PATTERN.test(uuid);
}

/** Whether `key` is the key of this row (absent row: compared anyway, so a miss costs the same as a wrong key). */
export async function wskKeyMatches(row: WskKeyRow | undefined, key: string): Promise<boolean> {
  const matches = timingSafeEqualText(await keyHash(key), row?.key_hash ?? ABSENT_KEY_HASH);
  return row !== undefined && matches;
}
