import type { TicketRequestBody, TicketResponse, TicketsRequestBody } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { DEFAULT_CHANNEL } from "../../protocol/names.ts";
import {
  pairId,
  partyRef,
  roleFor,
  TICKET_ISSUER,
  TICKET_TTL_SECONDS,
  type TicketClaims,
} from "../../protocol/ticket.ts";
import { runBatch } from "../db/batch.ts";
import {
  assignPairs,
  type PlacedPair,
  selectPlacedPairs,
  sweepPairAssignments,
} from "../db/pair-assignments.ts";
import type { DestRow, PartyRow } from "../db/parties.ts";
import { type LiveRelay, toRelayEndpoint } from "../db/relays.ts";
import { insertTicketsForAssignedRelays } from "../db/tickets.ts";
import { isoFromSeconds } from "../db/time.ts";
import { chooseRelay, PAIR_ASSIGNMENT_SECONDS } from "./choose-relay.ts";
import { signTicketJws } from "./sign-ticket.ts";
import type { TicketKeys } from "./ticket-keys.ts";
import { destsOf } from "./ticket-request-body.ts";

/** The caller as a ticket names it. */
export type TicketCaller = Pick<PartyRow, "user_name" | "name" | "fingerprint">;

/**
 * An authenticated caller's request with what is known of it: read from D1 by requestTicket in
 * the same round trip as the caller's own row, or remembered by the isolate (ticket-caches.ts).
 */
export interface TicketOrder {
  caller: TicketCaller;
  request: TicketRequestBody | TicketsRequestBody;
  /**
   * The parties the request names, among the caller's own user's parties (those that exist),
   * when read; undefined when not read, left to the rate-limit take in the batch to check.
   */
  dests: DestRow[] | undefined;
  /** selectLiveRelays, as read or as remembered */
  live: LiveRelay[];
}

/** Writes of the request itself that join the tickets' batch: its jti, its rate-limit take. */
export interface RequestWrites {
  nonce?: D1PreparedStatement[];
  quota?: D1PreparedStatement;
}

/** One ticket before its relay is known. */
interface Draft {
  dest: string;
  pair: string;
  jti: string;
  wanted: LiveRelay;
}

/**
 * Issues a ticket for each destination, all or none, in one round trip: a single batch (one
 * transaction) of the request's own writes, every pair's assignment, the read of the relays
 * they left, and the audit rows; its statements are as many for one ticket as for
 * MAX_TICKETS_PER_REQUEST. Destinations are only ever looked up among the caller's own user's
 * parties, so another user's party cannot even be named.
 */
export async function issueTickets(
  db: D1Database,
  keys: TicketKeys,
  { caller, request, dests, live }: TicketOrder,
  now: number,
  own: RequestWrites = {},
): Promise<TicketResponse[]> {
  const user = caller.user_name;
  const channel = request.channel ?? DEFAULT_CHANNEL;
  const found = dests && new Map(dests.map((row) => [row.name, row]));
  const unreachable = request.unreachable ?? [];
  const drafts: Draft[] = [];
  for (const dest of destsOf(request)) {
    if (dest === caller.name) throw new FlockError("SAME_PARTY");
    if (found) assertDestActive(dest, found.get(dest));
    const pair = await pairId(user, caller.name, dest, channel);
    drafts.push({ dest, pair, jti: crypto.randomUUID(), wanted: await chooseRelay(pair, live, unreachable) });
  }

  const exp = now + TICKET_TTL_SECONDS;
  const pairs = drafts.map((d) => d.pair);
  const written = await runBatch(db, {
    nonce: own.nonce ?? [],
    quota: own.quota ? [own.quota] : [],
    sweep: sweepPairAssignments(db, now),
    assignments: assignPairs(
      db,
      drafts.map((d) => ({ pair: d.pair, relay: d.wanted.name })),
      now + PAIR_ASSIGNMENT_SECONDS,
      now,
      unreachable,
    ),
    placed: selectPlacedPairs(db, pairs),
    audit: insertTicketsForAssignedRelays(
      db,
      { user, party: caller.name, issuedAt: now, expiresAt: exp },
      drafts.map(({ jti, dest, pair }) => ({ jti, dest, pair })),
    ),
  });
  const placed = new Map((written.placed.results as PlacedPair[]).map((row) => [row.pair, row]));
  return Promise.all(
    drafts.map((draft) => {
      const relay = placed.get(draft.pair);
      if (!relay) throw new Error("pair assignment vanished after upsert");
      return signTicket(keys, caller, draft, channel, relay, now, exp);
    }),
  );
}

function assertDestActive(dest: string, row: DestRow | undefined): void {
  if (!row)
    throw new FlockError("UNKNOWN_DEST", `The destination party ${dest} does not exist for this user.`);
  if (row.status === "revoked")
    throw new FlockError("DEST_REVOKED", `The destination party ${dest} has been revoked.`);
}

async function signTicket(
  keys: TicketKeys,
  caller: TicketCaller,
  { dest, pair, jti }: Draft,
  channel: string,
  relay: PlacedPair,
  now: number,
  exp: number,
): Promise<TicketResponse> {
  const claims: TicketClaims = {
    iss: TICKET_ISSUER,
    aud: relay.name,
    sub: partyRef(caller.user_name, caller.name),
    peer: partyRef(caller.user_name, dest),
    pair,
    chn: channel,
    role: roleFor(caller.name, dest),
    iat: now,
    nbf: now,
    exp,
    jti,
    cnf: { "x5t#S256": caller.fingerprint },
  };
  const ticket = await signTicketJws(keys.signing, claims);
  return {
    ticket,
    expiresAt: isoFromSeconds(exp),
    pair,
    role: claims.role,
    peer: claims.peer,
    relay: toRelayEndpoint(relay),
  };
}
