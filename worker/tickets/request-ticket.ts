import type { TicketResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { findPartyByFingerprint } from "../db/parties.ts";
import { authenticateSignedRequest } from "../signed-requests/authenticate.ts";
import { issueTicket, parseTicketRequestBody } from "./issue-ticket.ts";
import type { TicketKeys } from "./ticket-keys.ts";

export const TICKETS_PATH = "/v1/tickets";

/** POST /v1/tickets: a party proves itself with a request signed by its relay key. */
export async function requestTicket(
  db: D1Database,
  keys: TicketKeys,
  jws: string,
  now: number,
): Promise<TicketResponse> {
  const { signer: caller, payload } = await authenticateSignedRequest(
    db,
    jws,
    "POST",
    TICKETS_PATH,
    async (fingerprint) => {
      const party = await findPartyByFingerprint(db, fingerprint);
      return party && { record: party, pem: party.relay_cert, notAfter: party.not_after };
    },
    now,
  );
  // Checked only after the signature, so revocation state is not an oracle for strangers.
  if (caller.status === "revoked") throw new FlockError("PARTY_REVOKED");
  return issueTicket(db, keys, caller, parseTicketRequestBody(payload.body), now);
}
