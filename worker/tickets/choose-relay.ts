import type { RelayLoad } from "../../protocol/api.ts";
import { sha256 } from "../../protocol/encoding.ts";
import { FlockError } from "../../protocol/errors.ts";
import { TICKET_TTL_SECONDS } from "../../protocol/ticket.ts";
import {
  assignPair,
  type PairAssignment,
  type PairAssignmentRow,
  selectPairAssignment,
  toPairAssignment,
} from "../db/pair-assignments.ts";
import { findRelay, type RelayRow, selectLiveRelays } from "../db/relays.ts";

/** How long one side of a pair may wait at the data plane for the other (the data plane's default). */
export const PAIRING_TIMEOUT_SECONDS = 60;
/** A pair keeps its relay while either side may still hold a ticket or wait for its peer. */
export const PAIR_ASSIGNMENT_SECONDS = TICKET_TTL_SECONDS + PAIRING_TIMEOUT_SECONDS;

/** What a relay choice reads: the live relays and the pair's current assignment. */
export interface RelayCandidates {
  live: RelayRow[];
  assigned: PairAssignment | undefined;
}

/** The two reads behind RelayCandidates, to put in a caller's batch (one round trip). */
export function relayCandidateReads(db: D1Database, pair: string, now: number): D1PreparedStatement[] {
  return [selectLiveRelays(db, now), selectPairAssignment(db, pair, now)];
}

export function toRelayCandidates(
  live: D1Result | undefined,
  assigned: D1Result | undefined,
): RelayCandidates {
  return {
    live: (live?.results ?? []) as RelayRow[],
    assigned: toPairAssignment(assigned?.results[0] as PairAssignmentRow | undefined),
  };
}

export async function loadRelayCandidates(
  db: D1Database,
  pair: string,
  now: number,
): Promise<RelayCandidates> {
  const [live, assigned] = await db.batch(relayCandidateReads(db, pair, now));
  return toRelayCandidates(live, assigned);
}

/**
 * Picks the data plane for a pair. Both sides must land on the same one even if relays
 * come and go between their two requests: an assignment to a still-live relay is reused
 * (and extended); otherwise rendezvous hashing over the live relays picks one, so sides
 * that see the same live set agree even without the assignment, and adding a relay moves
 * only the pairs it wins. A revoked relay is never in the live set, so its pairs move too.
 * `alsoRun` joins the assignment's batch.
 */
export async function chooseRelay(
  db: D1Database,
  pair: string,
  { live, assigned }: RelayCandidates,
  now: number,
  alsoRun: D1PreparedStatement[] = [],
): Promise<RelayRow> {
  if (live.length === 0) throw new FlockError("NO_RELAY_AVAILABLE");
  // A draining relay (capacity 0) takes no new sides, so even an assigned pair moves on.
  const kept = live.find((relay) => relay.name === assigned?.relay && loadOf(relay)?.capacity !== 0);
  const wanted = kept ?? (await highestRandomWeight(pair, withRoom(live)));
  const expiresAt = now + PAIR_ASSIGNMENT_SECONDS;
  const winner = await assignPair(db, pair, wanted.name, assigned?.relay, expiresAt, now, alsoRun);
  if (winner === wanted.name) return wanted;
  // Another request for this pair assigned it first; meet the peer there.
  return live.find((relay) => relay.name === winner) ?? (await relayNamed(db, winner));
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

async function relayNamed(db: D1Database, name: string): Promise<RelayRow> {
  const relay = await findRelay(db, name);
  // Revoked between the read and the assignment: no ticket may name it.
  if (!relay || relay.status === "revoked") throw new FlockError("NO_RELAY_AVAILABLE");
  return relay;
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
