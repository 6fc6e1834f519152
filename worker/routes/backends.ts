/** Admin API for OpenWhisk backends and each user's routing policy. */
import type { Context } from "hono";
import { assertName } from "../../protocol/names.ts";
import { deleteBackend, listBackends, setRoutingPolicy } from "../db/backends.ts";
import { parsePageQuery } from "../db/pagination.ts";
import { nowSeconds } from "../db/time.ts";
import type { AppEnv } from "../env.ts";
import { readJsonObject } from "../http/read-body.ts";
import { backendKey } from "../openwhisk/credential-cipher.ts";
import { assertRoutingPolicy, parseBackendInput, registerBackend } from "../registry/register-backend.ts";

export async function add(c: Context<AppEnv>): Promise<Response> {
  const input = parseBackendInput(await readJsonObject(c));
  const key = await backendKey(c.env.BACKEND_SECRET_KEY);
  return c.json({ item: await registerBackend(c.env.DB, key, input, nowSeconds()) }, 201);
}

export async function list(c: Context<AppEnv>): Promise<Response> {
  const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 1);
  const user = c.req.query("user");
  const owner = user === undefined ? undefined : assertName(user, "user");
  return c.json(await listBackends(c.env.DB, query, owner, nowSeconds()));
}

export async function remove(c: Context<AppEnv>): Promise<Response> {
  const name = assertName(c.req.param("name"), "backend");
  return c.json({ item: await deleteBackend(c.env.DB, name, nowSeconds()) });
}

export async function setPolicy(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  const body = await readJsonObject(c);
  return c.json({ item: await setRoutingPolicy(c.env.DB, user, assertRoutingPolicy(body.policy)) });
}
