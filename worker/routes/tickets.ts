import type { Context } from "hono";
import { assertName } from "../../protocol/names.ts";
import { parsePageQuery } from "../db/pagination.ts";
import { listTickets } from "../db/tickets.ts";
import { nowSeconds } from "../db/time.ts";
import type { AppEnv } from "../env.ts";
import { readSignedRequest } from "../http/read-body.ts";
import { ticketKeysOf } from "../secrets.ts";
import { ticketRateLimitOf } from "../tickets/rate-limit.ts";
import { requestTicket } from "../tickets/request-ticket.ts";

/** Authenticated by the party's signature, not the admin token. */
export async function request(c: Context<AppEnv>): Promise<Response> {
  const jws = await readSignedRequest(c);
  const keys = await ticketKeysOf(c.env);
  return c.json(await requestTicket(c.env.DB, keys, ticketRateLimitOf(c.env), jws, nowSeconds()));
}

/** The ticket audit of a user, newest first. */
export async function auditOfUser(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 2);
  return c.json(await listTickets(c.env.DB, user, undefined, query));
}

/** The ticket audit of one party of a user, newest first. */
export async function auditOfParty(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  const party = assertName(c.req.param("party"), "party");
  const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 2);
  return c.json(await listTickets(c.env.DB, user, party, query));
}
