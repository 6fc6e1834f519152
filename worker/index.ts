// Before anything can load @peculiar/x509 (its tsyringe container needs the Reflect polyfill).
import "reflect-metadata";
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { nowSeconds } from "./db/time.ts";
import type { AppEnv, Bindings } from "./env.ts";
import { sweepExpiredRecords } from "./maintenance/sweep.ts";
import { limitBody, MAX_JSON_BODY_BYTES } from "./middleware/body-limit.ts";
import { handleError, notFoundHandler } from "./middleware/error-handler.ts";
import { backendPolicies, backends } from "./routes/backends.ts";
import { health } from "./routes/health.ts";
import { openwhisk } from "./routes/openwhisk.ts";
import { parties } from "./routes/parties.ts";
import { relayCa } from "./routes/relay-ca.ts";
import { relays } from "./routes/relays.ts";
import { ticketAudit } from "./routes/ticket-audit.ts";
import { tickets } from "./routes/tickets.ts";
import { users } from "./routes/users.ts";
import { wellKnown } from "./routes/well-known.ts";
import { wskKeys } from "./routes/wsk-keys.ts";

const app = new Hono<AppEnv>();

app.use(requestId());
app.use("/v1/*", limitBody(MAX_JSON_BODY_BYTES));

app.route("/", health);
app.route("/", wellKnown);
app.route("/", relayCa);
app.route("/v1/users", users);
app.route("/v1", parties);
app.route("/v1/relays", relays);
app.route("/v1/tickets", tickets);
app.route("/v1/backends", backends);
app.route("/v1/users", backendPolicies);
app.route("/v1/users", wskKeys);
app.route("/v1/users", ticketAudit);
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
