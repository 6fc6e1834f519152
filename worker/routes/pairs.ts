import type { Context } from "hono";
import { nowSeconds } from "../db/time.ts";
import type { AppEnv } from "../env.ts";
import { readSignedRequest } from "../http/read-body.ts";
import { PairLookupBudget } from "../tickets/pair-lookup-budget.ts";
import { lookUpPairRelay } from "../tickets/pair-relay-lookup.ts";

/** This isolate's lookup buckets, one per party (tickets/pair-lookup-budget.ts says why not D1). */
const lookups = new PairLookupBudget();

/** Authenticated by the party's signature, like a ticket request; answers without issuing one. */
export async function relayOfPair(c: Context<AppEnv>): Promise<Response> {
  const jws = await readSignedRequest(c);
  return c.json(await lookUpPairRelay(c.env.DB, lookups, jws, nowSeconds()));
}
