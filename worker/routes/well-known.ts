import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { ticketKeysOf } from "../secrets.ts";

/** Data planes refetch within this long, so a newly added key is trusted before it signs. */
export const JWKS_MAX_AGE_SECONDS = 60;

export const wellKnown = new Hono<AppEnv>().get("/.well-known/jwks.json", async (c) => {
  const keys = await ticketKeysOf(c.env);
  c.header("cache-control", `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
  return c.json({ keys: keys.published });
});
