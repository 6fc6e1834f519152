/** Admin API for caller keys of the OpenWhisk API (mounted at /v1/users). The key is shown once, on creation. */
import { Hono } from "hono";
import { assertName } from "../../protocol/names.ts";
import type { AppEnv } from "../env.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { forgetCallers } from "../openwhisk/caller-cache.ts";
import { issueWskKey, listWskKeys, revokeWskKey } from "../openwhisk/wsk-key-store.ts";

const admin = adminAuth();

export const wskKeys = new Hono<AppEnv>()
  .post("/:user/wsk-keys", admin, async (c) => {
    return c.json(await issueWskKey(c.env.DB, assertName(c.req.param("user"), "user")), 201);
  })
  .get("/:user/wsk-keys", admin, async (c) => {
    return c.json({ items: await listWskKeys(c.env.DB, assertName(c.req.param("user"), "user")) });
  })
  .delete("/:user/wsk-keys/:uuid", admin, async (c) => {
    const item = await revokeWskKey(c.env.DB, assertName(c.req.param("user"), "user"), c.req.param("uuid"));
    forgetCallers();
    return c.json({ item });
  });
