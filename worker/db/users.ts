import type { Page, UserInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { forgetCallers } from "./caller-cache.ts";
import { isUniqueViolation } from "./d1-errors.ts";
import { type PageQuery, toPage } from "./pagination.ts";
import { isoFromSeconds } from "./time.ts";

interface UserRow {
  name: string;
  created_at: number;
}

function toUserInfo(row: UserRow): UserInfo {
  return { name: row.name, createdAt: isoFromSeconds(row.created_at) };
}

export async function insertUser(db: D1Database, name: string, now: number): Promise<UserInfo> {
  try {
    await db.prepare("INSERT INTO users (name, created_at) VALUES (?, ?)").bind(name, now).run();
  } catch (error) {
    if (isUniqueViolation(error)) throw new FlockError("USER_EXISTS");
    throw error;
  }
  return toUserInfo({ name, created_at: now });
}

export async function findUser(db: D1Database, name: string): Promise<UserInfo | undefined> {
  const row = await db
    .prepare("SELECT name, created_at FROM users WHERE name = ?")
    .bind(name)
    .first<UserRow>();
  return row ? toUserInfo(row) : undefined;
}

export async function getUser(db: D1Database, name: string): Promise<UserInfo> {
  const user = await findUser(db, name);
  if (!user) throw new FlockError("USER_NOT_FOUND");
  return user;
}

/**
 * Deletes the user; its parties, backends, policy and wsk keys go with it (ON DELETE CASCADE),
 * and this isolate forgets the caller tables it cached, so the user's keys fail here at once.
 */
export async function deleteUser(db: D1Database, name: string): Promise<UserInfo> {
  const row = await db
    .prepare("DELETE FROM users WHERE name = ? RETURNING name, created_at")
    .bind(name)
    .first<UserRow>();
  if (!row) throw new FlockError("USER_NOT_FOUND");
  forgetCallers();
  return toUserInfo(row);
}

export async function listUsers(db: D1Database, query: PageQuery): Promise<Page<UserInfo>> {
  const { results } = await db
    .prepare("SELECT name, created_at FROM users WHERE name > ? ORDER BY name LIMIT ?")
    .bind(query.after[0], query.limit + 1)
    .all<UserRow>();
  return toPage(results, query, (row) => [row.name], toUserInfo);
}
