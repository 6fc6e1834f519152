import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { pairId } from "../../../protocol/ticket.ts";
import { PAIR_RELAY_PATH, TICKETS_PATH } from "../../../protocol/wire.ts";
import { nowSeconds } from "../../../worker/db/time.ts";
import {
  PAIR_LOOKUP_BURST,
  PAIR_LOOKUPS_PER_SECOND,
  PairLookupBudget,
} from "../../../worker/tickets/pair-lookup-budget.ts";
import { lookUpPairRelay } from "../../../worker/tickets/pair-relay-lookup.ts";
import { countingRoundTrips, failingOnWrite } from "../support/d1-doubles.ts";
import {
  admin,
  createParty,
  createRelay,
  createUserWithParties,
  generateKeys,
  postSigned,
  reportLoad,
  type Signer,
  signAs,
} from "../support/fixtures.ts";
import { snapshotTables } from "../support/table-snapshot.ts";

type Body = { dest?: unknown; channel?: unknown; [key: string]: unknown };

/** One lookup at `now` through `budget`: the answer, or the refusal as a value. */
async function look(party: Signer, body: Body, budget: PairLookupBudget, now = nowSeconds(), db = env.DB) {
  const jws = await signAs(party, PAIR_RELAY_PATH, body, { iat: now });
  return lookUpPairRelay(db, budget, jws, now).catch((error: unknown) => error);
}

async function ticketRelay(party: Signer, body: Body): Promise<string> {
  const res = await postSigned(TICKETS_PATH, await signAs(party, TICKETS_PATH, body));
  if (res.status !== 200) throw new Error(`ticket: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { relay: { name: string } }).relay.name;
}

describe("lookUpPairRelay (no HTTP)", () => {
  let alice: Signer;
  let bob: Signer;
  let carol: Signer;

  beforeAll(async () => {
    [alice, bob, carol] = await createUserWithParties("look", "alice", "bob", "carol");
    for (const name of ["look-1", "look-2"])
      expect((await reportLoad(await createRelay(name))).status).toBe(200);
  });

  it("names the data plane the pair is assigned to, and the one the peer's ticket moved it to", async () => {
    const budget = new PairLookupBudget();
    const first = await ticketRelay(alice, { dest: "bob", channel: "moving" });
    const pair = await pairId("look", "alice", "bob", "moving");
    expect(await look(alice, { dest: "bob", channel: "moving" }, budget)).toEqual({ pair, relay: first });
    const moved = await ticketRelay(bob, { dest: "alice", channel: "moving", unreachable: [first] });
    expect(moved).not.toBe(first);
    expect(await look(alice, { dest: "bob", channel: "moving" }, budget)).toEqual({ pair, relay: moved });
    expect(await look(bob, { dest: "alice", channel: "moving" }, budget)).toEqual({ pair, relay: moved });
  });

  it("answers relay null for a pair the worker assigns to no data plane, or no longer does", async () => {
    const budget = new PairLookupBudget();
    const pair = await pairId("look", "alice", "bob", "never");
    expect(await look(alice, { dest: "bob", channel: "never" }, budget)).toEqual({ pair, relay: null });
    await ticketRelay(alice, { dest: "bob", channel: "expires" });
    const expired = await env.DB.prepare("SELECT max(expires_at) AS at FROM pair_assignments").first<{
      at: number;
    }>();
    const later = await look(alice, { dest: "bob", channel: "expires" }, budget, expired?.at);
    expect(later).toMatchObject({ relay: null });
  });

  it("reads nothing but the caller's own pair: another party of the user, or another user's party of the same name, learns nothing of it", async () => {
    const budget = new PairLookupBudget();
    await ticketRelay(alice, { dest: "bob", channel: "private" });
    const [stranger] = await createUserWithParties("look-other", "alice");
    expect(await look(carol, { dest: "bob", channel: "private" }, budget)).toEqual({
      pair: await pairId("look", "bob", "carol", "private"),
      relay: null,
    });
    expect(await look(stranger, { dest: "bob", channel: "private" }, budget)).toEqual({
      pair: await pairId("look-other", "alice", "bob", "private"),
      relay: null,
    });
  });

  it("refuses a body that names a pair, or anything but {dest, channel?}, and a pair with itself", async () => {
    const budget = new PairLookupBudget();
    const pair = await pairId("look", "alice", "bob", "private");
    for (const body of [{ dest: "bob", pair }, { pair }, { dests: ["bob"] }, ["bob"]]) {
      expect(await look(carol, body as Body, budget), JSON.stringify(body)).toMatchObject({
        code: "BAD_REQUEST",
      });
    }
    expect(await look(carol, { dest: "bob", channel: "no spaces" }, budget)).toMatchObject({
      code: "BAD_REQUEST",
    });
    expect(await look(carol, { dest: "../bob" }, budget)).toMatchObject({ code: "INVALID_NAME" });
    expect(await look(carol, { dest: "carol" }, budget)).toMatchObject({ code: "SAME_PARTY" });
  });

  it("refuses what is not signed by a registered party's key for this path, and a revoked party", async () => {
    const budget = new PairLookupBudget();
    const now = nowSeconds();
    const forger = { ...alice, keys: await generateKeys() };
    const relay = await createRelay("look-signer");
    const refusals: [string, string][] = [
      ["not a signed request", "BAD_SIGNATURE"],
      [await signAs(forger, PAIR_RELAY_PATH, { dest: "bob" }), "BAD_SIGNATURE"],
      [await signAs(alice, TICKETS_PATH, { dest: "bob" }), "BAD_SIGNATURE"],
      [await signAs(relay, PAIR_RELAY_PATH, { dest: "bob" }), "BAD_SIGNATURE"],
      [await signAs(alice, PAIR_RELAY_PATH, { dest: "bob" }, { iat: now - 600 }), "REQUEST_EXPIRED"],
    ];
    for (const [jws, code] of refusals) {
      await expect(lookUpPairRelay(env.DB, budget, jws, now), jws).rejects.toMatchObject({ code });
    }
    const revoked = await createParty("look", "revoked");
    expect(await look(revoked, { dest: "bob" }, budget)).toMatchObject({ relay: null });
    await admin("/v1/users/look/parties/revoked/revoke", { method: "POST" });
    expect(await look(revoked, { dest: "bob" }, budget)).toMatchObject({ code: "PARTY_REVOKED" });
  });

  it(`answers PAIR_LOOKUP_BURST (${PAIR_LOOKUP_BURST}) lookups at once, then PAIR_LOOKUPS_PER_SECOND (${PAIR_LOOKUPS_PER_SECOND}), and refuses a flood past it without a D1 round trip`, async () => {
    const budget = new PairLookupBudget();
    const now = nowSeconds();
    for (let i = 0; i < PAIR_LOOKUP_BURST; i++) {
      expect(await look(alice, { dest: "bob" }, budget, now)).toMatchObject({ pair: expect.any(String) });
    }
    const { db, trips } = countingRoundTrips(env.DB);
    const refused = await look(alice, { dest: "bob" }, budget, now, db);
    expect(refused).toMatchObject({ code: "PAIR_LOOKUP_LIMITED", retryAfterSeconds: 1 });
    expect(trips()).toBe(0);
    for (let i = 0; i < PAIR_LOOKUPS_PER_SECOND; i++) {
      expect(await look(alice, { dest: "bob" }, budget, now + 1)).toMatchObject({ pair: expect.any(String) });
    }
    expect(await look(alice, { dest: "bob" }, budget, now + 1)).toMatchObject({
      code: "PAIR_LOOKUP_LIMITED",
    });
    // The budget is the party's own: another party is not slowed by the flood.
    expect(await look(bob, { dest: "alice" }, budget, now + 1)).toMatchObject({ pair: expect.any(String) });
  });

  it("charges a forged request to nobody's budget: the party whose key id it names still looks up", async () => {
    const budget = new PairLookupBudget();
    const now = nowSeconds();
    const forger = { ...carol, keys: await generateKeys() };
    for (let i = 0; i <= PAIR_LOOKUP_BURST; i++) {
      expect(await look(forger, { dest: "bob" }, budget, now)).toMatchObject({ code: "BAD_SIGNATURE" });
    }
    expect(await look(carol, { dest: "bob" }, budget, now)).toMatchObject({ relay: null });
  });

  it("writes nothing, in one read round trip for a caller the isolate knows and two for one it does not", async () => {
    const budget = new PairLookupBudget();
    const cold = await createParty("look", "cold");
    await ticketRelay(alice, { dest: "cold", channel: "quiet" });
    const before = await snapshotTables();
    const counted = async (party: Signer, body: Body) => {
      const writes = failingOnWrite(env.DB, Number.POSITIVE_INFINITY);
      const reads = countingRoundTrips(writes.db);
      const answer = await look(party, body, budget, nowSeconds(), reads.db);
      return { answer, trips: reads.trips(), writes: writes.writes() };
    };
    const first = await counted(cold, { dest: "alice", channel: "quiet" });
    expect(first).toMatchObject({ answer: { relay: expect.any(String) }, trips: 2, writes: 0 });
    expect(await counted(cold, { dest: "alice", channel: "quiet" })).toMatchObject({ trips: 1, writes: 0 });
    // A replay reads the same again: no jti is kept for a request that writes nothing.
    const jws = await signAs(cold, PAIR_RELAY_PATH, { dest: "alice", channel: "quiet" });
    const again = [await lookUpPairRelay(env.DB, budget, jws, nowSeconds())];
    again.push(await lookUpPairRelay(env.DB, budget, jws, nowSeconds()));
    expect(again[1]).toEqual(again[0]);
    expect(await snapshotTables()).toBe(before);
  });
});
