import type { TicketResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { signedRequestKid, unverifiedBody } from "../../protocol/signed-request.ts";
import { REQUEST_MAX_SKEW_SECONDS } from "../../protocol/ticket.ts";
import { TICKETS_PATH } from "../../protocol/wire.ts";
import { firstRow, runBatch } from "../db/batch.ts";
import { findParty, type PartyRow, selectPartyByFingerprint, selectPartyOfSameUser } from "../db/parties.ts";
import { type RelayRow, selectLiveRelays } from "../db/relays.ts";
import { claimRequestNonce, isReplayedNonce, recordRequestNonce } from "../db/request-nonces.ts";
import { verifySignedRequestOf } from "../signed-requests/authenticate.ts";
import { issueTicket, parseTicketRequestBody } from "./issue-ticket.ts";
import type { TicketKeys } from "./ticket-keys.ts";

/**
 * POST /v1/tickets: a party proves itself with a request signed by its relay key. Two D1
 * round trips: every read (the caller by kid, the destination the body names, the live
 * relays), then every write (the jti, the pair's relay, the audit row) in one transaction.
 */
export async function requestTicket(
  db: D1Database,
  keys: TicketKeys,
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
  });
  const caller = firstRow<PartyRow>(read.caller);
  const { signer, payload } = await verifySignedRequestOf(
    jws,
    "POST",
    TICKETS_PATH,
    caller && { record: caller, pem: caller.relay_cert, notAfter: caller.not_after },
    now,
  );
  const nonceExpiresAt = payload.iat + REQUEST_MAX_SKEW_SECONDS;
  try {
    // Checked only after the signature, so revocation state is not an oracle for strangers.
    if (signer.status === "revoked") throw new FlockError("PARTY_REVOKED");
    const request = parseTicketRequestBody(payload.body);
    const dest =
      request.dest === claimedDest
        ? firstRow<PartyRow>(read.dest)
        : await findParty(db, signer.user_name, request.dest);
    const live = read.live.results as RelayRow[];
    const nonce = recordRequestNonce(db, kid, payload.jti, nonceExpiresAt, now);
    return await issueTicket(db, keys, { caller: signer, request, dest, live }, now, nonce);
  } catch (error) {
    if (isReplayedNonce(error)) throw new FlockError("REQUEST_REPLAYED");
    if (!(error instanceof FlockError)) throw error;
    // A refused request burns its jti too, and a replay is told so first, as when the jti
    // was claimed before any other check.
    if (!(await claimRequestNonce(db, kid, payload.jti, nonceExpiresAt, now))) {
      throw new FlockError("REQUEST_REPLAYED");
    }
    throw error;
  }
}
