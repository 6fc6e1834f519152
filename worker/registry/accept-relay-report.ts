import type { RelayLoad, RelayReportResponse } from "../../protocol/api.ts";
import { RELAY_REPORT_INTERVAL_SECONDS } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { signedRequestKid } from "../../protocol/signed-request.ts";
import { RELAY_REPORT_PATH } from "../../protocol/wire.ts";
import { runBatch } from "../db/batch.ts";
import { heardRelayReport } from "../db/live-relay-cache.ts";
import { selectRevokedFingerprints, toFingerprints } from "../db/parties.ts";
import { findRelayByFingerprint, updateRelayLoad } from "../db/relays.ts";
import { verifySignedRequestOf, withRequestNonce } from "../signed-requests/authenticate.ts";
import { signerKeyOf } from "../signed-requests/signer-keys.ts";
import type { TicketKeys } from "../tickets/ticket-keys.ts";

const LOAD_FIELDS = ["activePairs", "waitingSides", "bytesPerSecond", "capacity"] as const;

export function parseRelayLoad(value: unknown): RelayLoad {
  const load = value as Record<string, unknown> | null;
  const valid =
    typeof load === "object" &&
    load !== null &&
    LOAD_FIELDS.every((field) => {
      const n = load[field];
      return typeof n === "number" && Number.isFinite(n) && n >= 0;
    });
  if (!valid) {
    throw new FlockError(
      "BAD_REQUEST",
      `The report must hold non-negative numbers ${LOAD_FIELDS.join(", ")}.`,
    );
  }
  const { activePairs, waitingSides, bytesPerSecond, capacity } = load as unknown as RelayLoad;
  return { activePairs, waitingSides, bytesPerSecond, capacity };
}

/**
 * POST /v1/relays/report: a data plane, signing with its server certificate's key, says
 * how loaded it is; the answer is what it must enforce until its next report. Two D1 round
 * trips: the relay by kid, then one batch with the jti, the report and the revocations.
 */
export async function acceptRelayReport(
  db: D1Database,
  keys: TicketKeys,
  jws: string,
  now: number,
): Promise<RelayReportResponse> {
  const kid = signedRequestKid(jws);
  const found = await findRelayByFingerprint(db, kid);
  const { signer: relay, payload } = await verifySignedRequestOf(
    jws,
    "POST",
    RELAY_REPORT_PATH,
    found && { record: found, notAfter: found.not_after, key: () => signerKeyOf(found.cert) },
    now,
  );
  return withRequestNonce(db, kid, payload, now, async (nonce) => {
    // Checked only after the signature, so revocation state is not an oracle for strangers.
    if (relay.status === "revoked") throw new FlockError("RELAY_REVOKED");
    const load = parseRelayLoad(payload.body);
    const written = await runBatch(db, {
      nonce,
      report: updateRelayLoad(db, relay.name, load, now),
      revoked: selectRevokedFingerprints(db, now),
    });
    heardRelayReport(relay.name, load);
    return {
      revokedFingerprints: toFingerprints(written.revoked),
      ticketKids: keys.published.map((key) => key.kid),
      reportIntervalSeconds: RELAY_REPORT_INTERVAL_SECONDS,
    };
  });
}
