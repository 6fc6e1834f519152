import type { Context } from "hono";
import { assertName } from "../../protocol/names.ts";
import { parsePageQuery } from "../db/pagination.ts";
import { listRelays, revokeRelay } from "../db/relays.ts";
import { nowSeconds } from "../db/time.ts";
import type { AppEnv } from "../env.ts";
import { readJsonObject, readSignedRequest } from "../http/read-body.ts";
import { acceptRelayReport } from "../registry/accept-relay-report.ts";
import { registerRelay } from "../registry/register-relay.ts";
import { relayCaOf, ticketKeysOf } from "../secrets.ts";

/** Signed by the data plane's key, not the admin token. */
export async function report(c: Context<AppEnv>): Promise<Response> {
  const jws = await readSignedRequest(c);
  return c.json(await acceptRelayReport(c.env.DB, await ticketKeysOf(c.env), jws, nowSeconds()));
}

export async function register(c: Context<AppEnv>): Promise<Response> {
  const body = await readJsonObject(c);
  const name = assertName(body.name, "relay");
  const input = { name, hosts: body.hosts, port: body.port, csr: body.csr };
  return c.json(await registerRelay(c.env.DB, await relayCaOf(c.env), input, nowSeconds()), 201);
}

export async function list(c: Context<AppEnv>): Promise<Response> {
  const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 1);
  return c.json(await listRelays(c.env.DB, query, nowSeconds()));
}

export async function revoke(c: Context<AppEnv>): Promise<Response> {
  const name = assertName(c.req.param("relay"), "relay");
  return c.json({ item: await revokeRelay(c.env.DB, name, nowSeconds()) });
}
