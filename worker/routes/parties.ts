import type { Context } from "hono";
import { assertName } from "../../protocol/names.ts";
import { parsePageQuery } from "../db/pagination.ts";
import { listAllParties, listPartiesOfUser, revokeParty } from "../db/parties.ts";
import { nowSeconds } from "../db/time.ts";
import { getUser } from "../db/users.ts";
import type { AppEnv } from "../env.ts";
import { readJsonObject } from "../http/read-body.ts";
import { registerParty } from "../registry/register-party.ts";
import { relayCaOf } from "../secrets.ts";

export async function register(c: Context<AppEnv>): Promise<Response> {
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
}

export async function listOfUser(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 1);
  await getUser(c.env.DB, user);
  return c.json(await listPartiesOfUser(c.env.DB, user, query));
}

export async function revoke(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  const party = assertName(c.req.param("party"), "party");
  return c.json({ item: await revokeParty(c.env.DB, user, party, nowSeconds()) });
}

/** One flat list across all users. */
export async function listAll(c: Context<AppEnv>): Promise<Response> {
  const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 2);
  return c.json(await listAllParties(c.env.DB, query));
}
