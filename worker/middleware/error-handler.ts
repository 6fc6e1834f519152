import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { RELAY_REPORT_INTERVAL_SECONDS } from "../../protocol/api.ts";
import { type ErrorCode, FlockError } from "../../protocol/errors.ts";
import type { AppEnv } from "../env.ts";

/**
 * The one place errors become responses. A FlockError is expected: its code and sentence go
 * to the caller. Anything else is a bug: logged once with the request id (the message and
 * stack only, never bindings or headers) and answered with a bare INTERNAL.
 */
export function handleError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof FlockError) {
    return c.json(error.toBody(), error.status as ContentfulStatusCode, HINT_HEADERS[error.code]);
  }
  // Hono's own middleware signals client errors this way; give them our shape and code.
  if (error instanceof HTTPException) {
    const code = HTTP_EXCEPTION_CODES[error.status];
    if (code !== undefined) return c.json(new FlockError(code).toBody(), error.status);
  }
  console.error(
    JSON.stringify({
      level: "error",
      requestId: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      error: error.name,
      message: error.message,
      stack: error.stack,
    }),
  );
  return c.json(new FlockError("INTERNAL").toBody(), 500);
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

export function handleNotFound(c: Context<AppEnv>): Response {
  return c.json(new FlockError("NOT_FOUND").toBody(), 404);
}
