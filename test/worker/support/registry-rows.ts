import type { RelayLoad } from "../../../protocol/api.ts";
import {
  type PartyRow,
  selectPartyByFingerprint,
  selectRevokedFingerprints,
  toFingerprints,
} from "../../../worker/db/parties.ts";
import { type LiveRelay, selectLiveRelays, updateRelayLoad } from "../../../worker/db/relays.ts";

/** A relay's load report written straight to D1, as the report endpoint's batch writes it. */
export async function recordRelayReport(
  db: D1Database,
  name: string,
  load: RelayLoad,
  now: number,
): Promise<void> {
  await updateRelayLoad(db, name, load, now).run();
}

/** What the report endpoint tells data planes to refuse, read on its own. */
export async function listRevokedFingerprints(db: D1Database, now: number): Promise<string[]> {
  return toFingerprints(await selectRevokedFingerprints(db, now).all());
}

/** The live relays as a ticket request's batch reads them, read on their own. */
export async function listLiveRelays(db: D1Database, now: number): Promise<LiveRelay[]> {
  return (await selectLiveRelays(db, now).all<LiveRelay>()).results;
}

/** The party whose relay certificate has this fingerprint, read on its own. */
export async function findPartyByFingerprint(
  db: D1Database,
  fingerprint: string,
): Promise<PartyRow | undefined> {
  return (await selectPartyByFingerprint(db, fingerprint).first<PartyRow>()) ?? undefined;
}
