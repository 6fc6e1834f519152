import type { RelayLoad } from "../../protocol/api.ts";
import { sha256 } from "../../protocol/encoding.ts";
import { FlockError } from "../../protocol/errors.ts";
import { TICKET_TTL_SECONDS } from "../../protocol/ticket.ts";
import { PAIRING_TIMEOUT_MS } from "../../protocol/wire.ts";
import { type AlsoRun, assignPair } from "../db/pair-assignments.ts";
import type { RelayRow } from "../db/relays.ts";

/** A pair keeps its relay while either side may still hold a ticket or wait for its peer. */
export const PAIR_ASSIGNMENT_SECONDS = TICKET_TTL_SECONDS + PAIRING_TIMEOUT_MS / 1000;

/**
 * Picks the data plane for a pair among `live` (selectLiveRelays). Both sides must land on
 * the same one even if relays come and go between their two requests: an assignment to a
 * relay that is still live and not draining is kept (and extended), judged when the
 * assignment is written (assignPair); otherwise rendezvous hashing over the live relays
 * picks one, so sides that see the same live set agree even without the assignment, and
 * adding a relay moves only the pairs it wins. A revoked relay is never live, so its pairs
 * move too. `also` joins the assignment's batch.
 */
export async function chooseRelay(
  db: D1Database,
  pair: string,
  live: RelayRow[],
  now: number,
  also: AlsoRun = {},
): Promise<RelayRow> {
  if (live.length === 0) throw new FlockError("NO_RELAY_AVAILABLE");
  const wanted = await highestRandomWeight(pair, withRoom(live));
  return assignPair(db, pair, wanted.name, now + PAIR_ASSIGNMENT_SECONDS, now, also);
}

/**
 * New pairs avoid relays whose last report said they were full, unless all are: reports are
 * up to a report interval old, and a full relay answers OVER_CAPACITY itself.
 */
function withRoom(live: RelayRow[]): RelayRow[] {
  const open = live.filter((relay) => {
    const load = loadOf(relay);
    // A waiting side is half a pair.
    return load === undefined || load.activePairs * 2 + load.waitingSides < load.capacity * 2;
  });
  return open.length > 0 ? open : live;
}

function loadOf(relay: RelayRow): RelayLoad | undefined {
  return relay.load === null ? undefined : (JSON.parse(relay.load) as RelayLoad);
}

/** Rendezvous (HRW) hashing: the relay with the largest hash of (pair, relay) wins. */
export async function highestRandomWeight(pair: string, relays: RelayRow[]): Promise<RelayRow> {
  let best: { relay: RelayRow; weight: string } | undefined;
  for (const relay of relays) {
    const weight = hex(await sha256(`flock-hrw-v1\0${pair}\0${relay.name}`));
    if (!best || weight > best.weight) best = { relay, weight };
  }
  if (!best) throw new FlockError("NO_RELAY_AVAILABLE");
  return best.relay;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
