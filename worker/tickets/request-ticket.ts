import type { TicketResponse, TicketsResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { signedRequestKid, unverifiedBody } from "../../protocol/signed-request.ts";
import { TICKETS_PATH } from "../../protocol/wire.ts";
import { firstRow, runBatch } from "../db/batch.ts";
import { type DestRow, type PartyRow, selectDestsOfSigner, selectPartyByFingerprint } from "../db/parties.ts";
import { type LiveRelay, selectLiveRelays } from "../db/relays.ts";
import {
  isBucketEmpty,
  selectBucketOfSigner,
  type TicketBucketRow,
  takeTickets,
} from "../db/ticket-buckets.ts";
import { verifySignedRequestOf, withRequestNonce } from "../signed-requests/authenticate.ts";
import { issueTickets } from "./issue-tickets.ts";
import { assertTicketsAvailable, bucketEmptied, type TicketRateLimit } from "./rate-limit.ts";
import type { TicketKeys } from "./ticket-keys.ts";
import { claimedDests, destsOf, parseTicketRequestBody } from "./ticket-request-body.ts";

/**
 * POST /v1/tickets: a party proves itself with a request signed by its relay key, for one
 * `dest` (answered with a TicketResponse) or several `dests` (a TicketsResponse). Two D1
 * round trips whatever the number of tickets: every read (the caller by kid, the
 * destinations the body names, the live relays, the caller's rate-limit bucket), then every
 * write (the jti, the bucket, the pairs' relays, the audit rows) in one transaction.
 */
export async function requestTicket(
  db: D1Database,
  keys: TicketKeys,
  limit: TicketRateLimit,
  jws: string,
  now: number,
): Promise<TicketResponse | TicketsResponse> {
  const kid = signedRequestKid(jws);
  // Read ahead on the unverified body; the rows are used only once the signature over these
  // same bytes has verified, so a forged body learns nothing from them.
  const claimed = claimedDests(unverifiedBody(jws));
  const read = await runBatch(db, {
    caller: selectPartyByFingerprint(db, kid),
    dests: selectDestsOfSigner(db, kid, claimed),
    live: selectLiveRelays(db, now),
    bucket: selectBucketOfSigner(db, kid),
  });
  const caller = firstRow<PartyRow>(read.caller);
  const { signer, payload } = await verifySignedRequestOf(
    jws,
    "POST",
    TICKETS_PATH,
    caller && { record: caller, pem: caller.relay_cert, notAfter: caller.not_after },
    now,
  );
  return withRequestNonce(db, kid, payload, now, async (nonce) => {
    // Checked only after the signature, so revocation state is not an oracle for strangers.
    if (signer.status === "revoked") throw new FlockError("PARTY_REVOKED");
    const request = parseTicketRequestBody(payload.body);
    const wanted = destsOf(request);
    assertTicketsAvailable(firstRow<TicketBucketRow>(read.bucket), limit, wanted.length, now);
    // An honest client signs what it sent, so the read-ahead names the same parties.
    const sameAsClaimed = wanted.every((dest, i) => dest === claimed[i]) && wanted.length === claimed.length;
    const dests = (sameAsClaimed ? read.dests : await selectDestsOfSigner(db, kid, wanted).all())
      .results as DestRow[];
    const live = read.live.results as LiveRelay[];
    const quota = takeTickets(db, signer.user_name, signer.name, wanted.length, limit, now);
    let tickets: TicketResponse[];
    try {
      tickets = await issueTickets(db, keys, { caller: signer, request, dests, live }, now, { nonce, quota });
    } catch (error) {
      if (isBucketEmpty(error)) throw bucketEmptied(limit, wanted.length);
      throw error;
    }
    const [single] = tickets;
    return "dests" in request || single === undefined ? { tickets } : single;
  });
}
