import type { MiddlewareHandler } from "hono";
import { timingSafeEqualText } from "../../protocol/encoding.ts";
import { FlockError } from "../../protocol/errors.ts";
import type { AppEnv } from "../env.ts";

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/**
 * Admin endpoints: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time.
 * A worker deployed without ADMIN_TOKEN refuses everyone rather than everyone passing.
 */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async function adminAuth(c, next) {
    const expected = c.env.ADMIN_TOKEN;
    const presented = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    if (!expected || presented === undefined || !timingSafeEqualText(presented, expected)) {
      throw new FlockError("UNAUTHENTICATED", "This endpoint needs Authorization: Bearer <admin token>.");
    }
    await next();
  };
}
