import type { Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { PatternRouter } from "hono/router/pattern-router";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { RELAY_REPORT_INTERVAL_SECONDS } from "../../protocol/api.ts";
import { type ErrorCode, FlockError } from "../../protocol/errors.ts";
import { isDatabaseUnavailable } from "../db/d1-errors.ts";
import type { AppEnv } from "../env.ts";

/** When to retry after D1 failed to answer: its failures are short-lived or they are outages. */
export const DATABASE_RETRY_AFTER_SECONDS = 1;

/**
 * The one place errors become responses. A FlockError is expected: its code and sentence go
 * to the caller. D1 failing to answer is answered 503 DATABASE_UNAVAILABLE (nothing was
 * written: see isDatabaseUnavailable) and logged. Anything else is a bug: logged once with the
 * request id (the message and stack only, never bindings or headers) and answered with a bare
 * INTERNAL.
 */
export function handleError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof FlockError) {
    return c.json(error.toBody(), error.status as ContentfulStatusCode, hintHeaders(error));
  }
  // Hono's own middleware signals client errors this way; give them our shape and code.
  if (error instanceof HTTPException) {
    const code = HTTP_EXCEPTION_CODES[error.status];
    if (code !== undefined) return c.json(new FlockError(code).toBody(), error.status);
  }
  const unavailable = isDatabaseUnavailable(error);
  console.error(
    JSON.stringify({
      level: "error",
      event: unavailable ? "database.unavailable" : "internal",
      requestId: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      error: error.name,
      message: error.message,
      stack: error.stack,
    }),
  );
  if (unavailable) {
    const refusal = new FlockError("DATABASE_UNAVAILABLE", undefined, {
      retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
    });
    return c.json(refusal.toBody(), 503, hintHeaders(refusal));
  }
  return c.json(new FlockError("INTERNAL").toBody(), 500);
}

function hintHeaders(error: FlockError): Record<string, string> | undefined {
  const hints = HINT_HEADERS[error.code];
  if (error.retryAfterSeconds === undefined) return hints;
  return { ...hints, "retry-after": String(Math.max(1, Math.ceil(error.retryAfterSeconds))) };
}

/** Standard hints for clients: how to authenticate (RFC 6750 §3), when to retry (RFC 9110 §10.2.3). */
const HINT_HEADERS: Partial<Record<ErrorCode, Record<string, string>>> = {
  UNAUTHENTICATED: { "www-authenticate": 'Bearer realm="flock"' },
  NO_RELAY_AVAILABLE: { "retry-after": String(RELAY_REPORT_INTERVAL_SECONDS) },
};

const HTTP_EXCEPTION_CODES: Partial<Record<number, ErrorCode>> = {
  400: "BAD_REQUEST",
  401: "UNAUTHENTICATED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_ALLOWED",
  413: "BODY_TOO_LARGE",
};

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

/**
 * The answer for a request no route took: 405 with `allow` when the path exists under other
 * methods (a client that sent the wrong verb learns that, not that the resource is missing),
 * else 404. The routes are read on the first miss, once they are all registered.
 */
export function notFoundHandler(app: Hono<AppEnv>): (c: Context<AppEnv>) => Response {
  let router: PatternRouter<string> | undefined;
  const allowedMethods = (path: string): string[] => {
    if (!router) {
      router = new PatternRouter<string>();
      // "ALL" entries are middleware (app.use) or catch-alls: they say nothing about a verb.
      for (const route of app.routes)
        if (route.method !== "ALL") router.add(route.method, route.path, route.method);
    }
    const found = router;
    return METHODS.filter((method) => found.match(method, path)[0].length > 0);
  };
  return (c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length === 0) return c.json(new FlockError("NOT_FOUND").toBody(), 404);
    return c.json(new FlockError("METHOD_NOT_ALLOWED").toBody(), 405, { allow: allowed.join(", ") });
  };
}
