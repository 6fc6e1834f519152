import { Hono } from "hono";
import { assertName } from "../../protocol/names.ts";
import { parsePageQuery } from "../db/pagination.ts";
import { listTickets } from "../db/tickets.ts";
import type { AppEnv } from "../env.ts";
import { adminAuth } from "../middleware/admin-auth.ts";

const admin = adminAuth();

/** Mounted at /v1/users: the ticket audit of a user, or of one of its parties. */
export const ticketAudit = new Hono<AppEnv>()
  .get("/:user/tickets", admin, async (c) => {
    const user = assertName(c.req.param("user"), "user");
    const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 2);
    return c.json(await listTickets(c.env.DB, user, undefined, query));
  })
  .get("/:user/parties/:party/tickets", admin, async (c) => {
    const user = assertName(c.req.param("user"), "user");
    const party = assertName(c.req.param("party"), "party");
    const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 2);
    return c.json(await listTickets(c.env.DB, user, party, query));
  });
