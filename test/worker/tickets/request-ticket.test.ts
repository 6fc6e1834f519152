import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { RELAY_LIVE_SECONDS } from "../../../protocol/api.ts";
import { TICKETS_PATH } from "../../../protocol/wire.ts";
import { LIVE_RELAYS_CACHE_MS } from "../../../worker/db/live-relay-cache.ts";
import { nowSeconds } from "../../../worker/db/time.ts";
import { ticketRateLimitOf } from "../../../worker/tickets/rate-limit.ts";
import { requestTicket } from "../../../worker/tickets/request-ticket.ts";
import {
  knownCaller,
  knownCallers,
  MAX_KNOWN_CALLERS,
  rememberCaller,
} from "../../../worker/tickets/ticket-caches.ts";
import { loadTicketKeys } from "../../../worker/tickets/ticket-keys.ts";
import { countingRoundTrips } from "../support/d1-doubles.ts";
import {
  admin,
  createParty,
  createRelay,
  createUser,
  IDLE_LOAD,
  reportLoad,
  type Signer,
  signAs,
} from "../support/fixtures.ts";
import { recordRelayReport } from "../support/registry-rows.ts";

const LIMIT = ticketRateLimitOf(env);

describe("requestTicket (no HTTP)", () => {
  let a: Signer;

  beforeAll(async () => {
    await createUser("trips");
    a = await createParty("trips", "a");
    await createParty("trips", "b");
    for (const name of ["c", "d", "e"]) await createParty("trips", name);
    expect((await reportLoad(await createRelay("trips-relay"))).status).toBe(200);
  });

  /** One request through the round-trip counter: the answer (or refusal) and the trips it took. */
  async function counted(party: Signer, body: unknown): Promise<{ answer: unknown; trips: number }> {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const { db, trips } = countingRoundTrips(env.DB);
    const jws = await signAs(party, TICKETS_PATH, body);
    const answer = await requestTicket(db, keys, LIMIT, jws, nowSeconds()).catch((error: unknown) => error);
    return { answer, trips: trips() };
  }

  it("issues a ticket in two D1 round trips for a caller the isolate does not know: every read, then every write", async () => {
    const cold = await createParty("trips", "cold");
    const first = await counted(cold, { dest: "b", channel: "two-trips" });
    expect(first.answer).toMatchObject({ peer: "trips/b", relay: { name: "trips-relay" } });
    expect(first.trips).toBe(2);
  });

  it("issues the next one in one round trip: the write batch alone, which re-checks what the isolate remembers", async () => {
    const warm = await createParty("trips", "warm");
    await counted(warm, { dest: "b" });
    const next = await counted(warm, { dest: "c" });
    expect(next.answer).toMatchObject({ peer: "trips/c", relay: { name: "trips-relay" } });
    expect(next.trips).toBe(1);
  });

  it("refuses a replay, and writes nothing for it", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const jws = await signAs(a, TICKETS_PATH, { dest: "b", channel: "replayed" });
    await requestTicket(env.DB, keys, LIMIT, jws, nowSeconds());
    const audit = () => env.DB.prepare("SELECT count(*) AS n FROM tickets").first<{ n: number }>();
    const before = await audit();
    const { db, trips } = countingRoundTrips(env.DB);
    await expect(requestTicket(db, keys, LIMIT, jws, nowSeconds())).rejects.toMatchObject({
      code: "REQUEST_REPLAYED",
    });
    // The caller is known by now: the write batch alone, which the replayed jti fails.
    expect(trips()).toBe(1);
    expect(await audit()).toEqual(before);
  });

  it("answers from D1 when the isolate's memory is out of date: a destination revoked since, a caller revoked since", async () => {
    const party = await createParty("trips", "remembered");
    await createParty("trips", "soon-revoked");
    await counted(party, { dest: "soon-revoked" });
    await admin("/v1/users/trips/parties/soon-revoked/revoke", { method: "POST" });
    // The write batch refuses (nothing written); the reads of a cold request say why, and the
    // refusal burns the jti.
    const dest = await counted(party, { dest: "soon-revoked", channel: "again" });
    expect(dest.answer).toMatchObject({ code: "DEST_REVOKED" });
    expect(dest.trips).toBe(3);
    await admin("/v1/users/trips/parties/remembered/revoke", { method: "POST" });
    expect((await counted(party, { dest: "b" })).answer).toMatchObject({ code: "PARTY_REVOKED" });
  });

  it("issues tickets for several peers in the same round trips as one, with one signature check", async () => {
    const mpc = await createParty("trips", "mpc");
    const verify = vi.spyOn(crypto.subtle, "verify");
    try {
      const cold = await counted(mpc, { dests: ["b", "c", "d", "e"], channel: "mpc" });
      expect(cold.answer).toMatchObject({
        tickets: [{ peer: "trips/b" }, { peer: "trips/c" }, { peer: "trips/d" }, { peer: "trips/e" }],
      });
      expect(verify).toHaveBeenCalledTimes(1);
      expect(cold.trips).toBe(2);
      const warm = await counted(mpc, { dests: ["b", "c", "d", "e"], channel: "mpc-2" });
      expect((warm.answer as { tickets: unknown[] }).tickets).toHaveLength(4);
      expect(verify).toHaveBeenCalledTimes(2);
      expect(warm.trips).toBe(1);
    } finally {
      verify.mockRestore();
    }
  });

  it(`reads D1 again once the live relays it remembers are LIVE_RELAYS_CACHE_MS (${LIVE_RELAYS_CACHE_MS} ms) old`, async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const party = await createParty("trips", "ages");
    const at = async (now: number) => {
      const { db, trips } = countingRoundTrips(env.DB);
      await requestTicket(
        db,
        keys,
        LIMIT,
        await signAs(party, TICKETS_PATH, { dest: "b" }, { iat: now }),
        now,
      );
      return trips();
    };
    const now = nowSeconds();
    expect(await at(now)).toBe(2);
    expect(await at(now + LIVE_RELAYS_CACHE_MS / 1000 - 1)).toBe(1);
    expect(await at(now + LIVE_RELAYS_CACHE_MS / 1000)).toBe(2);
  });

  it(`remembers at most MAX_KNOWN_CALLERS (${MAX_KNOWN_CALLERS}) callers, dropping the oldest`, () => {
    const caller = (kid: string) => ({
      key: {} as CryptoKey,
      caller: { user_name: "u", name: kid, fingerprint: kid, not_after: 0 },
    });
    rememberCaller("first", caller("first"));
    for (let i = 0; i < MAX_KNOWN_CALLERS; i++) rememberCaller(`kid-${i}`, caller(`kid-${i}`));
    expect(knownCallers()).toBe(MAX_KNOWN_CALLERS);
    expect(knownCaller("first")).toBeUndefined();
    expect(knownCaller(`kid-${MAX_KNOWN_CALLERS - 1}`)).toBeDefined();
  });

  it("puts a new pair on another live relay, in the same one round trip, when the remembered one went silent", async () => {
    const party = await createParty("trips", "moves");
    await counted(party, { dest: "b" });
    await createRelay("trips-late");
    // Reported as another isolate would hear it: this one's memory still lists trips-relay only.
    await recordRelayReport(env.DB, "trips-late", IDLE_LOAD, nowSeconds());
    const stale = nowSeconds() - RELAY_LIVE_SECONDS - 1;
    await env.DB.prepare("UPDATE relays SET last_report_at = ? WHERE name = 'trips-relay'").bind(stale).run();
    const moved = await counted(party, { dest: "c", channel: "after-silence" });
    expect(moved.answer).toMatchObject({ relay: { name: "trips-late" } });
    expect(moved.trips).toBe(1);
  });

  it("puts a new pair on a relay that does not drain, in one round trip, when the remembered one began draining", async () => {
    const party = await createParty("trips", "drained");
    // Both relays of this file live again, so there is one to move to.
    await env.DB.prepare("UPDATE relays SET last_report_at = ?").bind(nowSeconds()).run();
    const before = await counted(party, { dest: "b", channel: "before-drain" });
    const usual = (before.answer as { relay: { name: string } }).relay.name;
    await recordRelayReport(env.DB, usual, { ...IDLE_LOAD, capacity: 0 }, nowSeconds());
    const moved = await counted(party, { dest: "c", channel: "after-drain" });
    expect((moved.answer as { relay: { name: string } }).relay.name).not.toBe(usual);
    expect(moved.trips).toBe(1);
  });

  it("forgets the live relays it remembers when this isolate hears a new relay report, or one that starts draining", async () => {
    const party = await createParty("trips", "hears");
    await env.DB.prepare("UPDATE relays SET last_report_at = ?, load = NULL").bind(nowSeconds()).run();
    await counted(party, { dest: "b", channel: "hears-1" });
    expect((await counted(party, { dest: "b", channel: "hears-2" })).trips).toBe(1);
    const fresh = await createRelay("trips-fresh");
    expect((await reportLoad(fresh)).status).toBe(200);
    expect((await counted(party, { dest: "b", channel: "hears-3" })).trips).toBe(2);
    expect((await counted(party, { dest: "b", channel: "hears-4" })).trips).toBe(1);
    expect((await reportLoad(fresh, { ...IDLE_LOAD, capacity: 0 })).status).toBe(200);
    expect((await counted(party, { dest: "b", channel: "hears-5" })).trips).toBe(2);
  });
});
