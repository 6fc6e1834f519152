/**
 * Caller keys for the OpenWhisk API. A key is 64 random base64url characters (384 bits);
 * only its SHA-256 is stored, so a leaked table grants nothing, and the check compares
 * digests in constant time.
 */
import type { IssuedWskKey } from "../../protocol/api.ts";
import { sha256, timingSafeEqualText, toBase64Url } from "../../protocol/encoding.ts";
import { insertWskKey, type WskKeyRow } from "../db/wsk-keys.ts";

export const WSK_KEY_RANDOM_BYTES = 48;
/** Compared against when the uuid is unknown, so a miss costs the same as a wrong key. */
const ABSENT_KEY_HASH = "0".repeat(43);
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function keyHash(key: string): Promise<string> {
  return toBase64Url(await sha256(key));
}

export async function issueWskKey(db: D1Database, user: string, now: number): Promise<IssuedWskKey> {
  const uuid = crypto.randomUUID();
  const key = toBase64Url(crypto.getRandomValues(new Uint8Array(WSK_KEY_RANDOM_BYTES)));
  const row: WskKeyRow = { uuid, user_name: user, key_hash: await keyHash(key), created_at: now };
  return { item: await insertWskKey(db, row), uuid, key };
}

export function isWskKeyUuid(uuid: string): boolean {
  return UUID_PATTERN.test(uuid);
}

/** Whether `key` is the key of this row (absent row: compared anyway, so a miss costs the same as a wrong key). */
export async function wskKeyMatches(row: WskKeyRow | undefined, key: string): Promise<boolean> {
  const matches = timingSafeEqualText(await keyHash(key), row?.key_hash ?? ABSENT_KEY_HASH);
  return row !== undefined && matches;
}
