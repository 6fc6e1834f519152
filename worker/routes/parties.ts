import { Hono } from "hono";
import { assertName } from "../../protocol/names.ts";
import { parsePageQuery } from "../db/pagination.ts";
import { listAllParties, listPartiesOfUser, revokeParty } from "../db/parties.ts";
import { nowSeconds } from "../db/time.ts";
import { getUser } from "../db/users.ts";
import type { AppEnv } from "../env.ts";
import { readJsonObject } from "../http/read-body.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { registerParty } from "../registry/register-party.ts";
import { relayCaOf } from "../secrets.ts";

const admin = adminAuth();

/** Mounted at /v1: parties live under their user, and one flat list spans all users. */
export const parties = new Hono<AppEnv>()
  .post("/users/:user/parties", admin, async (c) => {
    const user = assertName(c.req.param("user"), "user");
    const body = await readJsonObject(c);
    const name = assertName(body.name, "party");
    const issued = await registerParty(
      c.env.DB,
      await relayCaOf(c.env),
      { user, name, csr: body.csr },
      nowSeconds(),
    );
    return c.json(issued, 201);
  })
  .get("/users/:user/parties", admin, async (c) => {
    const user = assertName(c.req.param("user"), "user");
    const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 1);
    await getUser(c.env.DB, user);
    return c.json(await listPartiesOfUser(c.env.DB, user, query));
  })
  .post("/users/:user/parties/:party/revoke", admin, async (c) => {
    const user = assertName(c.req.param("user"), "user");
    const party = assertName(c.req.param("party"), "party");
    return c.json({ item: await revokeParty(c.env.DB, user, party, nowSeconds()) });
  })
  .get("/parties", admin, async (c) => {
    const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 2);
    return c.json(await listAllParties(c.env.DB, query));
  });
