/** Admin API for OpenWhisk backends (mounted at /v1/backends) and per-user routing policy (at /v1/users). */
import { Hono } from "hono";
import { assertName } from "../../protocol/names.ts";
import { parsePageQuery } from "../db/pagination.ts";
import type { AppEnv } from "../env.ts";
import { readJsonObject } from "../http/read-body.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import {
  assertRoutingPolicy,
  deleteBackend,
  insertBackend,
  listBackends,
  parseBackendInput,
  setRoutingPolicy,
} from "../openwhisk/backend-store.ts";
import { forgetCallers } from "../openwhisk/caller-cache.ts";
import { backendKey } from "../openwhisk/credential-cipher.ts";

const admin = adminAuth();

export const backends = new Hono<AppEnv>()
  .post("/", admin, async (c) => {
    const input = parseBackendInput(await readJsonObject(c));
    const item = await insertBackend(c.env.DB, await backendKey(c.env.BACKEND_SECRET_KEY), input);
    forgetCallers();
    return c.json({ item }, 201);
  })
  .get("/", admin, async (c) => {
    const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 1);
    const user = c.req.query("user");
    return c.json(
      await listBackends(c.env.DB, query, user === undefined ? undefined : assertName(user, "user")),
    );
  })
  .delete("/:name", admin, async (c) => {
    const item = await deleteBackend(c.env.DB, assertName(c.req.param("name"), "backend"));
    forgetCallers();
    return c.json({ item });
  });

export const backendPolicies = new Hono<AppEnv>().put("/:user/backend-policy", admin, async (c) => {
  const user = assertName(c.req.param("user"), "user");
  const body = await readJsonObject(c);
  const item = await setRoutingPolicy(c.env.DB, user, assertRoutingPolicy(body.policy));
  forgetCallers();
  return c.json({ item });
});
