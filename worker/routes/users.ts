import type { Context } from "hono";
import { assertName } from "../../protocol/names.ts";
import { parsePageQuery } from "../db/pagination.ts";
import { nowSeconds } from "../db/time.ts";
import { deleteUser, insertUser, listUsers } from "../db/users.ts";
import type { AppEnv } from "../env.ts";
import { readJsonObject } from "../http/read-body.ts";

export async function create(c: Context<AppEnv>): Promise<Response> {
  const body = await readJsonObject(c);
  const item = await insertUser(c.env.DB, assertName(body.name, "user"), nowSeconds());
  return c.json({ item }, 201);
}

export async function list(c: Context<AppEnv>): Promise<Response> {
  const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 1);
  return c.json(await listUsers(c.env.DB, query));
}

export async function remove(c: Context<AppEnv>): Promise<Response> {
  const item = await deleteUser(c.env.DB, assertName(c.req.param("user"), "user"));
  return c.json({ item });
}
