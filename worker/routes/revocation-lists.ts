/**
 * Users' revocation lists: the admin publishes one the user CA signed (the CLI does, in
 * `flock revoke party`); anyone may fetch it, since it is signed and names only revoked parties.
 */
import type { Context } from "hono";
import type { RevocationListResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { assertName } from "../../protocol/names.ts";
import { readRevocationList } from "../../protocol/revocation-list.ts";
import { findRevocationList, storeRevocationList } from "../db/revocation-lists.ts";
import { nowSeconds } from "../db/time.ts";
import type { AppEnv } from "../env.ts";
import { readJsonObject } from "../http/read-body.ts";

/** The worker cannot check the signature (it never holds the user CA); it checks shape, size and owner. */
export async function publish(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  const { list } = await readJsonObject(c);
  if (typeof list !== "string")
    throw new FlockError("BAD_REQUEST", "The body must be {list: <compact JWS>}.");
  const claims = readRevocationList(list, user);
  return c.json({ item: await storeRevocationList(c.env.DB, list, claims, nowSeconds()) });
}

/** Unknown users get `{list: null}` like users without a list, so the route tells no one who exists. */
export async function get(c: Context<AppEnv>): Promise<Response> {
  const user = assertName(c.req.param("user"), "user");
  const body: RevocationListResponse = { list: await findRevocationList(c.env.DB, user) };
  c.header("cache-control", "no-store");
  return c.json(body);
}
