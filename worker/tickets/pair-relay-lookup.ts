import type { PairRelayRequestBody, PairRelayResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { assertName, DEFAULT_CHANNEL } from "../../protocol/names.ts";
import { signedRequestKid } from "../../protocol/signed-request.ts";
import { pairId, partyRef } from "../../protocol/ticket.ts";
import { PAIR_RELAY_PATH } from "../../protocol/wire.ts";
import { firstRow, runBatch } from "../db/batch.ts";
import { selectAssignedRelay } from "../db/pair-assignments.ts";
import { type PartyRow, selectPartyByFingerprint } from "../db/parties.ts";
import { verifySignedRequestOf } from "../signed-requests/authenticate.ts";
import { signerKeyOf } from "../signed-requests/signer-keys.ts";
import type { PairLookupBudget } from "./pair-lookup-budget.ts";
import { type KnownCaller, knownCaller, rememberCaller, signerOfKnown } from "./ticket-caches.ts";
import { parseChannel } from "./ticket-request-body.ts";

/**
 * POST /v1/pairs/relay: which data plane the worker assigns the caller's pair with `dest` to,
 * for a side that waits there for its peer and must learn when the peer's ticket moved the
 * pair (client/pair-move-watch.ts). Authenticated as a ticket request is, but it only reads:
 * no ticket, no audit row, no token of the ticket bucket, no jti burnt (a replay within the
 * skew window reads the same thing again, which its signer was allowed to). The pair id is
 * made from the authenticated caller's own user and name, as the ticket's is, so no request
 * can name a pair the caller is not in. One D1 round trip for a caller this isolate has
 * verified before, two for another; past its `budget` a caller is refused once its signature
 * verifies, before the assignment is read (and, for a caller the isolate knows, before any).
 */
export async function lookUpPairRelay(
  db: D1Database,
  budget: PairLookupBudget,
  jws: string,
  now: number,
): Promise<PairRelayResponse> {
  const kid = signedRequestKid(jws);
  const known = knownCaller(kid) ?? (await callerOfKid(db, kid));
  const { signer: caller, payload } = await verifySignedRequestOf(
    jws,
    "POST",
    PAIR_RELAY_PATH,
    known && signerOfKnown(known),
    now,
  );
  budget.take(partyRef(caller.user_name, caller.name), now);
  const { dest, channel } = parsePairRelayRequestBody(payload.body);
  if (dest === caller.name) throw new FlockError("SAME_PARTY");
  const pair = await pairId(caller.user_name, caller.name, dest, channel ?? DEFAULT_CHANNEL);
  // The caller's row is read again beside the assignment: memory does not know of a revocation.
  const read = await runBatch(db, {
    caller: selectPartyByFingerprint(db, kid),
    assigned: selectAssignedRelay(db, pair, now),
  });
  const row = firstRow<PartyRow>(read.caller);
  if (!row) throw new FlockError("BAD_SIGNATURE", "No registered certificate has this key id.");
  if (row.status === "revoked") throw new FlockError("PARTY_REVOKED");
  if (known) rememberCaller(kid, known);
  return { pair, relay: firstRow<{ relay: string }>(read.assigned)?.relay ?? null };
}

/** The caller as D1 has it, with its certificate's key: to verify the signature with, not yet trusted. */
async function callerOfKid(db: D1Database, kid: string): Promise<KnownCaller | undefined> {
  const row = await selectPartyByFingerprint(db, kid).first<PartyRow>();
  return row ? { key: await signerKeyOf(row.relay_cert), caller: row } : undefined;
}

/** The signed body: `{dest, channel?}`, nothing else, so a body that names a pair is refused, not ignored. */
function parsePairRelayRequestBody(value: unknown): PairRelayRequestBody {
  const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
  if (!isObject || Object.keys(value).some((key) => key !== "dest" && key !== "channel")) {
    throw new FlockError("BAD_REQUEST", "The signed body must be an object {dest, channel?}.");
  }
  const body = value as Record<string, unknown>;
  const channel = parseChannel(body.channel);
  return { dest: assertName(body.dest, "destination party"), ...(channel === undefined ? {} : { channel }) };
}
