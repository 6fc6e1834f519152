/** Admin API for caller keys of the OpenWhisk API. The key is shown once, on creation. */
import type { Context } from "hono";
import { assertName } from "../../protocol/names.ts";
import { nowSeconds } from "../db/time.ts";
import { deleteWskKey, listWskKeys } from "../db/wsk-keys.ts";
import type { AppEnv } from "../env.ts";
import { issueWskKey } from "../openwhisk/wsk-keys.ts";

export async function issue(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  return c.json(await issueWskKey(c.env.DB, user, nowSeconds()), 201);
}

export async function list(c: Context<AppEnv>): Promise<Response> {
  return c.json({ items: await listWskKeys(c.env.DB, assertName(c.req.param("user"), "user")) });
}

export async function revoke(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  return c.json({ item: await deleteWskKey(c.env.DB, user, c.req.param("uuid") ?? "") });
}
