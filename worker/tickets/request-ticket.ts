import type {
  TicketRequestBody,
  TicketResponse,
  TicketsRequestBody,
  TicketsResponse,
} from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { signedRequestKid, unverifiedBody } from "../../protocol/signed-request.ts";
import { TICKETS_PATH } from "../../protocol/wire.ts";
import { firstRow, runBatch } from "../db/batch.ts";
import { isForeignKeyViolation } from "../db/d1-errors.ts";
import { cachedLiveRelays, rememberLiveRelays } from "../db/live-relay-cache.ts";
import { isNoLiveRelay } from "../db/pair-assignments.ts";
import { type DestRow, type PartyRow, selectDestsOfSigner, selectPartyByFingerprint } from "../db/parties.ts";
import { type LiveRelay, selectLiveRelays } from "../db/relays.ts";
import {
  isTakeRefused,
  selectBucketOfSigner,
  type TicketBucketRow,
  takeTickets,
} from "../db/ticket-buckets.ts";
import { verifySignedRequestOf, withRequestNonce } from "../signed-requests/authenticate.ts";
import { signerKeyOf } from "../signed-requests/signer-keys.ts";
import { issueTickets, type TicketOrder } from "./issue-tickets.ts";
import {
  assertTicketsAvailable,
  assertWithinBurst,
  bucketEmptied,
  type TicketRateLimit,
} from "./rate-limit.ts";
import { type KnownCaller, knownCaller, rememberCaller, signerOfKnown } from "./ticket-caches.ts";
import type { TicketKeys } from "./ticket-keys.ts";
import { claimedDests, destsOf, parseTicketRequestBody } from "./ticket-request-body.ts";

type Answer = TicketResponse | TicketsResponse;

interface Context {
  db: D1Database;
  keys: TicketKeys;
  limit: TicketRateLimit;
  jws: string;
  kid: string;
  now: number;
}

/**
 * POST /v1/tickets: a party proves itself with a request signed by its relay key, for one
 * `dest` (answered with a TicketResponse) or several `dests` (a TicketsResponse), however many
 * in the same round trips. A caller this isolate verified before, with the live relays it read
 * within LIVE_RELAYS_CACHE_MS, costs one D1 round trip: the write batch, which re-checks all
 * it relies on (fromMemory). Any other costs two: every read (the caller by kid, the
 * destinations the body names, the live relays, the caller's rate-limit bucket), then the same
 * write batch (fromD1).
 */
export async function requestTicket(
  db: D1Database,
  keys: TicketKeys,
  limit: TicketRateLimit,
  jws: string,
  now: number,
): Promise<Answer> {
  const context: Context = { db, keys, limit, jws, kid: signedRequestKid(jws), now };
  const known = knownCaller(context.kid);
  const live = cachedLiveRelays(now * 1000);
  const warm = known && live && (await fromMemory(context, known, live));
  if (warm) return warm;
  // What the write batch found (a race with another isolate) is read again, once, to answer from.
  return (await fromD1(context, false)) ?? (await fromD1(context, true));
}

/**
 * One round trip. Undefined when the batch refused what memory said (the caller revoked or
 * deleted, a destination gone, the bucket empty, no relay live) or no remembered relay will do:
 * nothing was written, and the request is read from D1 to answer it.
 */
async function fromMemory(
  context: Context,
  known: KnownCaller,
  live: LiveRelay[],
): Promise<Answer | undefined> {
  const { db, kid, now } = context;
  const { payload } = await verifySignedRequestOf(
    context.jws,
    "POST",
    TICKETS_PATH,
    signerOfKnown(known),
    now,
  );
  return withRequestNonce(db, kid, payload, now, async (nonce) => {
    const request = parseTicketRequestBody(payload.body);
    assertWithinBurst(context.limit, destsOf(request).length);
    try {
      return await issue(context, { caller: known.caller, request, dests: undefined, live }, nonce);
    } catch (error) {
      // The relays remembered may all be gone or unreachable while D1 knows a newer one.
      const noRelay = error instanceof FlockError && error.code === "NO_RELAY_AVAILABLE";
      if (noRelay || isTakeRefused(error) || isNoLiveRelay(error) || isForeignKeyViolation(error))
        return undefined;
      throw error;
    }
  });
}

/**
 * Two round trips. Undefined when the write batch refused what the reads said (another isolate
 * took the last tokens, or a party changed in between) and `last` is false: read again.
 */
async function fromD1(context: Context, last: true): Promise<Answer>;
async function fromD1(context: Context, last: false): Promise<Answer | undefined>;
async function fromD1(context: Context, last: boolean): Promise<Answer | undefined> {
  const { db, kid, now } = context;
  // Read ahead on the unverified body; the rows are used only once the signature over these
  // same bytes has verified, so a forged body learns nothing from them.
  const claimed = claimedDests(unverifiedBody(context.jws));
  const read = await runBatch(db, {
    caller: selectPartyByFingerprint(db, kid),
    dests: selectDestsOfSigner(db, kid, claimed),
    live: selectLiveRelays(db, now),
    bucket: selectBucketOfSigner(db, kid),
  });
  const live = read.live.results as LiveRelay[];
  rememberLiveRelays(live, now * 1000);
  const caller = firstRow<PartyRow>(read.caller);
  const signer = caller && {
    record: caller,
    notAfter: caller.not_after,
    key: () => signerKeyOf(caller.relay_cert),
  };
  const { payload } = await verifySignedRequestOf(context.jws, "POST", TICKETS_PATH, signer, now);
  return withRequestNonce(db, kid, payload, now, async (nonce) => {
    if (!caller) throw new Error("verifySignedRequestOf accepted a signer it was not given");
    // Checked only after the signature, so revocation state is not an oracle for strangers.
    if (caller.status === "revoked") throw new FlockError("PARTY_REVOKED");
    rememberCaller(kid, { key: await signerKeyOf(caller.relay_cert), caller });
    const request = parseTicketRequestBody(payload.body);
    const wanted = destsOf(request);
    assertTicketsAvailable(firstRow<TicketBucketRow>(read.bucket), context.limit, wanted.length, now);
    // An honest client signs what it sent, so the read-ahead names the same parties.
    const asClaimed = wanted.length === claimed.length && wanted.every((dest, i) => dest === claimed[i]);
    const dests = asClaimed ? read.dests : await selectDestsOfSigner(db, kid, wanted).all();
    try {
      return await issue(context, { caller, request, dests: dests.results as DestRow[], live }, nonce);
    } catch (error) {
      if (isTakeRefused(error)) {
        if (last) throw bucketEmptied(context.limit, wanted.length);
        return undefined;
      }
      if (isNoLiveRelay(error)) throw new FlockError("NO_RELAY_AVAILABLE");
      throw error;
    }
  });
}

/** The tickets' write batch with the request's jti and rate-limit take in it. */
async function issue(context: Context, order: TicketOrder, nonce: D1PreparedStatement[]): Promise<Answer> {
  const { db, keys, limit, kid, now } = context;
  const { caller, request } = order;
  const take = { user: caller.user_name, party: caller.name, fingerprint: kid, dests: destsOf(request) };
  const quota = takeTickets(db, take, limit, now);
  const tickets = await issueTickets(db, keys, order, now, { nonce, quota });
  return answerOf(request, tickets);
}

function answerOf(request: TicketRequestBody | TicketsRequestBody, tickets: TicketResponse[]): Answer {
  const [single] = tickets;
  return "dests" in request || single === undefined ? { tickets } : single;
}
