import { Hono } from "hono";
import { nowSeconds } from "../db/time.ts";
import type { AppEnv } from "../env.ts";
import { readSignedRequest } from "../http/read-body.ts";
import { limitBody, MAX_SIGNED_REQUEST_BYTES } from "../middleware/body-limit.ts";
import { ticketKeysOf } from "../secrets.ts";
import { requestTicket } from "../tickets/request-ticket.ts";

/** Mounted at /v1/tickets. Authenticated by the party's signature, not the admin token. */
export const tickets = new Hono<AppEnv>().post("/", limitBody(MAX_SIGNED_REQUEST_BYTES), async (c) => {
  const jws = await readSignedRequest(c);
  return c.json(await requestTicket(c.env.DB, await ticketKeysOf(c.env), jws, nowSeconds()));
});
