// Before anything can load @peculiar/x509 (its tsyringe container needs the Reflect polyfill).
import "reflect-metadata";
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { PAIR_RELAY_PATH, RELAY_REPORT_PATH, TICKETS_PATH } from "../protocol/wire.ts";
import { sweepExpiredRecords } from "./db/sweep.ts";
import { nowSeconds } from "./db/time.ts";
import type { AppEnv, Bindings } from "./env.ts";
import { adminAuth } from "./http/admin-auth.ts";
import { limitBody, MAX_JSON_BODY_BYTES, MAX_SIGNED_REQUEST_BYTES } from "./http/body-limit.ts";
import { handleError, notFoundHandler } from "./http/error-handler.ts";
import * as backends from "./routes/backends.ts";
import { openwhisk } from "./routes/openwhisk.ts";
import * as pairs from "./routes/pairs.ts";
import * as parties from "./routes/parties.ts";
import { health, jwks, relayCa } from "./routes/public.ts";
import * as relays from "./routes/relays.ts";
import * as revocationLists from "./routes/revocation-lists.ts";
import * as tickets from "./routes/tickets.ts";
import * as users from "./routes/users.ts";
import * as wskKeys from "./routes/wsk-keys.ts";

const app = new Hono<AppEnv>();
/** `Authorization: Bearer <ADMIN_TOKEN>`. */
const admin = adminAuth();
/** A JWS signed with a party's or a data plane's relay key; the signature is the credential. */
const signed = limitBody(MAX_SIGNED_REQUEST_BYTES);

app.use(requestId());
app.use("/v1/*", limitBody(MAX_JSON_BODY_BYTES));

// Anyone.
app.get("/healthz", health);
app.get("/.well-known/jwks.json", jwks);
app.get("/v1/relay-ca", relayCa);
app.get("/v1/users/:user/revocations", revocationLists.get);

// Parties and data planes, by signature.
app.post(TICKETS_PATH, signed, tickets.request);
app.post(PAIR_RELAY_PATH, signed, pairs.relayOfPair);
app.post(RELAY_REPORT_PATH, signed, relays.report);

// The admin API.
app.post("/v1/users", admin, users.create);
app.get("/v1/users", admin, users.list);
app.delete("/v1/users/:user", admin, users.remove);
app.post("/v1/users/:user/parties", admin, parties.register);
app.get("/v1/users/:user/parties", admin, parties.listOfUser);
app.post("/v1/users/:user/parties/:party/revoke", admin, parties.revoke);
app.get("/v1/parties", admin, parties.listAll);
app.put("/v1/users/:user/revocations", admin, revocationLists.publish);
app.get("/v1/users/:user/tickets", admin, tickets.auditOfUser);
app.get("/v1/users/:user/parties/:party/tickets", admin, tickets.auditOfParty);
app.post("/v1/relays", admin, relays.register);
app.get("/v1/relays", admin, relays.list);
app.post("/v1/relays/:relay/revoke", admin, relays.revoke);
app.post("/v1/backends", admin, backends.add);
app.get("/v1/backends", admin, backends.list);
app.delete("/v1/backends/:name", admin, backends.remove);
app.put("/v1/users/:user/backend-policy", admin, backends.setPolicy);
app.post("/v1/users/:user/wsk-keys", admin, wskKeys.issue);
app.get("/v1/users/:user/wsk-keys", admin, wskKeys.list);
app.delete("/v1/users/:user/wsk-keys/:uuid", admin, wskKeys.revoke);

// The OpenWhisk API (wsk keys, OpenWhisk's own error envelope): /namespaces/... under it.
app.route("/api/v1", openwhisk);

app.notFound(notFoundHandler(app));
app.onError(handleError);

/** The daily cron (wrangler.toml [triggers]): sweep rows nothing can use any more. */
async function sweep(env: Bindings): Promise<void> {
  const removed = await sweepExpiredRecords(env.DB, nowSeconds());
  console.log(JSON.stringify({ event: "maintenance.sweep", removed }));
}

export default {
  fetch: app.fetch,
  scheduled: (_controller, env, ctx) => ctx.waitUntil(sweep(env)),
} satisfies ExportedHandler<Bindings>;
