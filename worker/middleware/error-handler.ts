import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { FlockError } from "../../protocol/errors.ts";
import type { AppEnv } from "../env.ts";

/**
 * The one place errors become responses. A FlockError is expected: its code and sentence go
 * to the caller. Anything else is a bug: logged once with the request id (the message and
 * stack only, never bindings or headers) and answered with a bare INTERNAL.
 */
export function handleError(error: Error, c: Context<AppEnv>): Response {
  if (error instanceof FlockError) {
    return c.json(error.toBody(), error.status as ContentfulStatusCode);
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

export function handleNotFound(c: Context<AppEnv>): Response {
  return c.json(new FlockError("NOT_FOUND").toBody(), 404);
}
