import { SignJWT } from "jose";
import type { TicketRequestBody, TicketResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { assertName, CHANNEL_PATTERN, DEFAULT_CHANNEL } from "../../protocol/names.ts";
import {
  pairId,
  partyRef,
  roleFor,
  TICKET_ALG,
  TICKET_ISSUER,
  TICKET_TTL_SECONDS,
  TICKET_TYPE,
  type TicketClaims,
} from "../../protocol/ticket.ts";
import { firstRow, runBatch } from "../db/batch.ts";
import { assignPair, selectAssignedRelay, sweepPairAssignments } from "../db/pair-assignments.ts";
import type { PartyRow } from "../db/parties.ts";
import { type RelayRow, toRelayEndpoint } from "../db/relays.ts";
import { insertTicketForAssignedRelay } from "../db/tickets.ts";
import { isoFromSeconds } from "../db/time.ts";
import { chooseRelay, PAIR_ASSIGNMENT_SECONDS } from "./choose-relay.ts";
import type { TicketKeys } from "./ticket-keys.ts";

/** Validates the body a party signed into its ticket request. */
export function parseTicketRequestBody(value: unknown): TicketRequestBody {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FlockError("BAD_REQUEST", "The signed body must be an object {dest, channel?}.");
  }
  const body = value as Record<string, unknown>;
  const dest = assertName(body.dest, "destination party");
  if (body.channel === undefined) return { dest };
  if (typeof body.channel !== "string" || !CHANNEL_PATTERN.test(body.channel)) {
    throw new FlockError(
      "BAD_REQUEST",
      "channel must be 1-64 characters of letters, digits, '.', '-' and '_'.",
    );
  }
  return { dest, channel: body.channel };
}

/**
 * An authenticated, active caller's request with what D1 holds for it, read by requestTicket
 * in the same round trip as the caller's own row.
 */
export interface TicketOrder {
  caller: PartyRow;
  request: TicketRequestBody;
  /** The party named `request.dest` among the caller's own user's parties, if there is one. */
  dest: PartyRow | undefined;
  /** selectLiveRelays */
  live: RelayRow[];
}

/** Writes of the request itself that join the ticket's batch: its jti, its rate-limit take. */
export interface RequestWrites {
  nonce?: D1PreparedStatement[];
  quota?: D1PreparedStatement;
}

/**
 * Issues a ticket in one round trip: a single batch (one transaction) of the request's own
 * writes, the pair's assignment, the read of the relay it left, and the audit row.
 * The destination is only ever looked up among the caller's own user's parties, so another
 * user's party cannot even be named.
 */
export async function issueTicket(
  db: D1Database,
  keys: TicketKeys,
  { caller, request, dest, live }: TicketOrder,
  now: number,
  own: RequestWrites = {},
): Promise<TicketResponse> {
  const user = caller.user_name;
  if (request.dest === caller.name) throw new FlockError("SAME_PARTY");
  const channel = request.channel ?? DEFAULT_CHANNEL;
  if (!dest) throw new FlockError("UNKNOWN_DEST");
  if (dest.status === "revoked") throw new FlockError("DEST_REVOKED");
  const pair = await pairId(user, caller.name, dest.name, channel);
  const wanted = await chooseRelay(pair, live);

  const jti = crypto.randomUUID();
  const exp = now + TICKET_TTL_SECONDS;
  const written = await runBatch(db, {
    nonce: own.nonce ?? [],
    quota: own.quota ? [own.quota] : [],
    sweep: sweepPairAssignments(db, now),
    assignment: assignPair(db, pair, wanted.name, now + PAIR_ASSIGNMENT_SECONDS, now),
    relay: selectAssignedRelay(db, pair),
    audit: insertTicketForAssignedRelay(db, {
      jti,
      user,
      party: caller.name,
      dest: dest.name,
      pair,
      issuedAt: now,
      expiresAt: exp,
    }),
  });
  const relay = firstRow<RelayRow>(written.relay);
  if (relay === undefined) throw new Error("pair assignment vanished after upsert");
  const claims: TicketClaims = {
    iss: TICKET_ISSUER,
    aud: relay.name,
    sub: partyRef(user, caller.name),
    peer: partyRef(user, dest.name),
    pair,
    chn: channel,
    role: roleFor(caller.name, dest.name),
    iat: now,
    nbf: now,
    exp,
    jti,
    cnf: { "x5t#S256": caller.fingerprint },
  };
  const ticket = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: TICKET_ALG, typ: TICKET_TYPE, kid: keys.signing.kid })
    .sign(keys.signing.key);
  return {
    ticket,
    expiresAt: isoFromSeconds(claims.exp),
    pair,
    role: claims.role,
    peer: claims.peer,
    relay: toRelayEndpoint(relay),
  };
}
