/**
 * The OpenWhisk API under /api/v1 (docs/openwhisk.md): callers authenticate with
 * wsk keys issued by this worker; their calls go to their backends, with the backends' own
 * credentials. Errors use OpenWhisk's `{error, code}` envelope, not Flock's.
 */
import { type Context, Hono } from "hono";
import { isDatabaseUnavailable } from "../db/d1-errors.ts";
import type { Bindings, Variables } from "../env.ts";
import { DATABASE_RETRY_AFTER_SECONDS } from "../http/error-handler.ts";
import { dueAffinityWrites, rememberActivation } from "../openwhisk/activation-store.ts";
import { parseApiPath } from "../openwhisk/api-path.ts";
import { observeAttempts } from "../openwhisk/backend-health.ts";
import { routedBackends } from "../openwhisk/backend-pool.ts";
import type { CallContext } from "../openwhisk/call-context.ts";
import { authenticateCaller } from "../openwhisk/caller-auth.ts";
import { dispatch, refuseEarly } from "../openwhisk/dispatch.ts";
import { CORS_HEADERS, OW_MESSAGES, owError, tooLargeMessage, transactionId } from "../openwhisk/envelope.ts";
import { MAX_ENTITY_BODY_BYTES, MAX_INVOKE_BODY_BYTES, readBoundedBody } from "../openwhisk/request-body.ts";
import { logCall, withTrace } from "../openwhisk/trace.ts";
import { upstreamTimeoutMs } from "../openwhisk/upstream.ts";

type OpenWhiskEnv = { Bindings: Bindings; Variables: Variables & { owRequestId: string } };

export const API_INFO = {
  description: "OpenWhisk API",
  api_version: "1.0.0",
  api_version_path: "v1",
  build: "flock",
  buildno: "flock",
  swagger_paths: { ui: "/docs", "api-docs": "/api-docs" },
};

export const openwhisk = new Hono<OpenWhiskEnv>();

openwhisk.use("*", async function openWhiskEnvelope(c, next) {
  // The app's requestId middleware already took the caller's X-Request-ID (or made one) and
  // will stamp it on the answer; the controller additionally refuses ids starting with sid_.
  const id = transactionId(c.get("requestId"));
  c.set("owRequestId", id);
  c.header("x-request-id", id);
  await next();
  for (const [name, value] of Object.entries(CORS_HEADERS)) c.res.headers.set(name, value);
});

openwhisk.onError((error, c) => {
  const unavailable = isDatabaseUnavailable(error);
  console.error(
    JSON.stringify({
      event: unavailable ? "openwhisk.database_unavailable" : "openwhisk.error",
      requestId: c.var.owRequestId,
      error: String(error),
    }),
  );
  if (unavailable) {
    return owError(503, OW_MESSAGES.databaseUnavailable, c.var.owRequestId, {
      "retry-after": String(DATABASE_RETRY_AFTER_SECONDS),
    });
  }
  return owError(500, OW_MESSAGES.internal, c.var.owRequestId);
});

openwhisk.options("*", (c) => c.body(null, 200));

openwhisk.get("/", (c) => c.json(API_INFO));

openwhisk.all("/namespaces/*", serveNamespaces);
openwhisk.all("/namespaces", serveNamespaces);
openwhisk.all("*", (c) => owError(404, OW_MESSAGES.notFound, c.var.owRequestId));

async function serveNamespaces(c: Context<OpenWhiskEnv>): Promise<Response> {
  const started = Date.now();
  const requestId = c.var.owRequestId;
  const method = c.req.method;
  const url = new URL(c.req.url);
  const path = url.pathname.slice(url.pathname.indexOf("/namespaces"));
  const auth = await authenticateCaller(c.env.DB, c.req.header("authorization"), requestId);
  if ("response" in auth) return auth.response;
  const { user, policy } = auth;

  const target = parseApiPath(path);
  const refusal = refuseEarly(target, method, requestId);
  if (refusal) return refusal;

  // Size before lookup, as the controller checks (auth → 413 → 404).
  let body: Uint8Array | undefined;
  if (method === "POST" || method === "PUT") {
    const limit = method === "POST" ? MAX_INVOKE_BODY_BYTES : MAX_ENTITY_BODY_BYTES;
    const read = await readBoundedBody(c.req.raw, limit);
    if ("tooLarge" in read) return owError(413, tooLargeMessage(read.tooLarge, limit), requestId);
    body = read.bytes;
  }

  const backends = await routedBackends(auth.rows, c.env.BACKEND_SECRET_KEY);
  if (backends.length === 0) return owError(503, OW_MESSAGES.noBackendRegistered, requestId);
  const ctx: CallContext = {
    user,
    policy,
    backends,
    request: {
      method,
      path,
      search: url.search,
      headers: c.req.raw.headers,
      requestId,
      body,
      timeoutMs: upstreamTimeoutMs(method, url.search),
    },
  };

  const result = await dispatch(c.env.DB, target, ctx);
  if (result instanceof Response) return result;

  const now = Date.now();
  for (const a of result.activations ?? []) rememberActivation(user, a.id, a.backend, now);
  const writes = [...observeAttempts(c.env.DB, result.attempts, now), ...dueAffinityWrites(c.env.DB, now)];
  if (writes.length > 0) runAfterResponse(c, c.env.DB.batch(writes));
  const response = withTrace(result);
  const action = target.kind === "entity" ? readableName(target.name) : undefined;
  logCall({ requestId, user, method, path, action, status: response.status, result, totalMs: now - started });
  return response;
}

/** For the log line only: a malformed escape is logged as sent rather than failing the call. */
function readableName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** D1 bookkeeping must not delay the answer; outside a request context (tests) it just runs. */
function runAfterResponse(c: Context<OpenWhiskEnv>, work: Promise<unknown>): void {
  const logged = work.catch((error: unknown) =>
    console.error(JSON.stringify({ event: "openwhisk.bookkeeping_failed", error: String(error) })),
  );
  try {
    c.executionCtx.waitUntil(logged);
  } catch {
    // No execution context: the promise still runs to completion on its own.
  }
}
