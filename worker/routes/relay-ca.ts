import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { relayCaOf } from "../secrets.ts";

/** Parties and data planes fetch the relay CA once to know they reached a real relay / worker peer. */
export const relayCa = new Hono<AppEnv>().get("/v1/relay-ca", async (c) => {
  const ca = await relayCaOf(c.env);
  return c.body(ca.pem, 200, { "content-type": "application/x-pem-file" });
});
