import { Hono } from "hono";
import { assertName } from "../../protocol/names.ts";
import { parsePageQuery } from "../db/pagination.ts";
import { listRelays, revokeRelay } from "../db/relays.ts";
import { nowSeconds } from "../db/time.ts";
import type { AppEnv } from "../env.ts";
import { readJsonObject, readSignedRequest } from "../http/read-body.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { limitBody, MAX_SIGNED_REQUEST_BYTES } from "../middleware/body-limit.ts";
import { registerRelay } from "../registry/register-relay.ts";
import { acceptRelayReport } from "../relays/accept-report.ts";
import { relayCaOf, ticketKeysOf } from "../secrets.ts";

const admin = adminAuth();

/** Mounted at /v1/relays. The report is signed by the data plane's key, not the admin token. */
export const relays = new Hono<AppEnv>()
  .post("/report", limitBody(MAX_SIGNED_REQUEST_BYTES), async (c) => {
    const jws = await readSignedRequest(c);
    return c.json(await acceptRelayReport(c.env.DB, await ticketKeysOf(c.env), jws, nowSeconds()));
  })
  .post("/", admin, async (c) => {
    const body = await readJsonObject(c);
    const name = assertName(body.name, "relay");
    const input = { name, hosts: body.hosts, port: body.port, csr: body.csr };
    return c.json(await registerRelay(c.env.DB, await relayCaOf(c.env), input, nowSeconds()), 201);
  })
  .get("/", admin, async (c) => {
    const query = parsePageQuery(c.req.query("limit"), c.req.query("cursor"), 1);
    return c.json(await listRelays(c.env.DB, query, nowSeconds()));
  })
  .post("/:relay/revoke", admin, async (c) => {
    const name = assertName(c.req.param("relay"), "relay");
    return c.json({ item: await revokeRelay(c.env.DB, name, nowSeconds()) });
  });
