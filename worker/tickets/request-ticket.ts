import type { TicketResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { signedRequestKid, unverifiedBody } from "../../protocol/signed-request.ts";
import { TICKETS_PATH } from "../../protocol/wire.ts";
import { firstRow, runBatch } from "../db/batch.ts";
import { findParty, type PartyRow, selectPartyByFingerprint, selectPartyOfSameUser } from "../db/parties.ts";
import { type RelayRow, selectLiveRelays } from "../db/relays.ts";
import {
  isBucketEmpty,
  selectBucketOfSigner,
  type TicketBucketRow,
  takeTickets,
} from "../db/ticket-buckets.ts";
import { verifySignedRequestOf, withRequestNonce } from "../signed-requests/authenticate.ts";
import { issueTicket, parseTicketRequestBody } from "./issue-ticket.ts";
import { assertTicketsAvailable, bucketEmptied, type TicketRateLimit } from "./rate-limit.ts";
import type { TicketKeys } from "./ticket-keys.ts";

/**
 * POST /v1/tickets: a party proves itself with a request signed by its relay key. Two D1
 * round trips: every read (the caller by kid, the destination the body names, the live
 * relays, the caller's rate-limit bucket), then every write (the jti, the bucket, the pair's
 * relay, the audit row) in one transaction.
 */
export async function requestTicket(
  db: D1Database,
  keys: TicketKeys,
  limit: TicketRateLimit,
  jws: string,
  now: number,
): Promise<TicketResponse> {
  const kid = signedRequestKid(jws);
  // Read ahead on the unverified body; the rows are used only once the signature over these
  // same bytes has verified, so a forged body learns nothing from them.
  const claimed = unverifiedBody(jws) as { dest?: unknown } | undefined;
  const claimedDest = typeof claimed?.dest === "string" ? claimed.dest : "";
  const read = await runBatch(db, {
    caller: selectPartyByFingerprint(db, kid),
    dest: selectPartyOfSameUser(db, kid, claimedDest),
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
    assertTicketsAvailable(firstRow<TicketBucketRow>(read.bucket), limit, 1, now);
    const dest =
      request.dest === claimedDest
        ? firstRow<PartyRow>(read.dest)
        : await findParty(db, signer.user_name, request.dest);
    const live = read.live.results as RelayRow[];
    const quota = takeTickets(db, signer.user_name, signer.name, 1, limit, now);
    try {
      return await issueTicket(db, keys, { caller: signer, request, dest, live }, now, { nonce, quota });
    } catch (error) {
      if (isBucketEmpty(error)) throw bucketEmptied(limit, 1);
      throw error;
    }
  });
}
