/** Documents anyone may fetch: liveness, the ticket keys, the relay CA. */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { relayCaOf, ticketKeysOf } from "../secrets.ts";

/** Data planes refetch within this long, so a newly added key is trusted before it signs. */
export const JWKS_MAX_AGE_SECONDS = 60;

export function health(c: Context<AppEnv>): Response {
  return c.json({ ok: true });
}

/** The public halves of every configured ticket key; data planes verify tickets with them. */
export async function jwks(c: Context<AppEnv>): Promise<Response> {
  const keys = await ticketKeysOf(c.env);
  c.header("cache-control", `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
  return c.json({ keys: keys.published });
}

/** Parties and data planes fetch the relay CA once to know they reached a real relay / worker peer. */
export async function relayCa(c: Context<AppEnv>): Promise<Response> {
  const ca = await relayCaOf(c.env);
  return c.body(ca.pem, 200, { "content-type": "application/x-pem-file" });
}
