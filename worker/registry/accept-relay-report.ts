import type { RelayLoad, RelayReportResponse } from "../../protocol/api.ts";
import { RELAY_REPORT_INTERVAL_SECONDS } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { RELAY_REPORT_PATH } from "../../protocol/wire.ts";
import { listRevokedFingerprints } from "../db/parties.ts";
import { findRelayByFingerprint, recordRelayReport } from "../db/relays.ts";
import { authenticateSignedRequest } from "../signed-requests/authenticate.ts";
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
 * how loaded it is; the answer is what it must enforce until its next report.
 */
export async function acceptRelayReport(
  db: D1Database,
  keys: TicketKeys,
  jws: string,
  now: number,
): Promise<RelayReportResponse> {
  const { signer: relay, payload } = await authenticateSignedRequest(
    db,
    jws,
    "POST",
    RELAY_REPORT_PATH,
    async (fingerprint) => {
      const relay = await findRelayByFingerprint(db, fingerprint);
      return relay && { record: relay, pem: relay.cert, notAfter: relay.not_after };
    },
    now,
  );
  // Checked only after the signature, so revocation state is not an oracle for strangers.
  if (relay.status === "revoked") throw new FlockError("RELAY_REVOKED");
  const load = parseRelayLoad(payload.body);
  await recordRelayReport(db, relay.name, load, now);
  return {
    revokedFingerprints: await listRevokedFingerprints(db, now),
    ticketKids: keys.published.map((key) => key.kid),
    reportIntervalSeconds: RELAY_REPORT_INTERVAL_SECONDS,
  };
}
