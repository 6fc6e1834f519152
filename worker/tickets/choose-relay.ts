import type { RelayLoad } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { highestRandomWeight } from "../../protocol/rendezvous.ts";
import { TICKET_TTL_SECONDS } from "../../protocol/ticket.ts";
import { PAIRING_TIMEOUT_MS } from "../../protocol/wire.ts";
import type { LiveRelay } from "../db/relays.ts";

/** A pair keeps its relay while either side may still hold a ticket or wait for its peer. */
export const PAIR_ASSIGNMENT_SECONDS = TICKET_TTL_SECONDS + PAIRING_TIMEOUT_MS / 1000;

/**
 * The data plane this side wants for a pair, among `live` (selectLiveRelays). Both sides must
 * land on the same one even if relays come and go between their two requests: the ticket's
 * batch writes this choice with assignPairs, which keeps an existing assignment to a relay that
 * is still live and not draining (judged when it is written), so the relay the batch reads
 * back is the one to use. Rendezvous hashing over the live relays makes sides that see the
 * same live set agree even without the assignment, and adding a relay moves only the pairs it
 * wins. A revoked relay is never live, so its pairs move too; nor is one the caller just
 * failed to reach (`unreachable`): a crashed relay stays live for RELAY_LIVE_SECONDS.
 */
export async function chooseRelay(
  pair: string,
  live: LiveRelay[],
  unreachable: readonly string[] = [],
): Promise<LiveRelay> {
  const reachable = live.filter((relay) => !unreachable.includes(relay.name));
  if (reachable.length === 0) {
    throw new FlockError(
      "NO_RELAY_AVAILABLE",
      live.length === 0
        ? undefined
        : "Every data plane that reported recently is one this party could not reach.",
    );
  }
  return highestRandomWeight(pair, withRoom(reachable));
}

/**
 * New pairs avoid relays whose last report said they were full, unless all are: reports are
 * up to a report interval old, and a full relay answers OVER_CAPACITY itself.
 */
function withRoom(live: LiveRelay[]): LiveRelay[] {
  const open = live.filter((relay) => {
    const load = loadOf(relay);
    // A waiting side is half a pair.
    return load === undefined || load.activePairs * 2 + load.waitingSides < load.capacity * 2;
  });
  return open.length > 0 ? open : live;
}

function loadOf(relay: LiveRelay): RelayLoad | undefined {
  return relay.load === null ? undefined : (JSON.parse(relay.load) as RelayLoad);
}
