import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { TICKETS_PATH } from "../../../protocol/wire.ts";
import { nowSeconds } from "../../../worker/db/time.ts";
import { ticketRateLimitOf } from "../../../worker/tickets/rate-limit.ts";
import { requestTicket } from "../../../worker/tickets/request-ticket.ts";
import { loadTicketKeys } from "../../../worker/tickets/ticket-keys.ts";
import { countingRoundTrips } from "../support/d1-doubles.ts";
import {
  createParty,
  createRelay,
  createUser,
  reportLoad,
  type Signer,
  signAs,
} from "../support/fixtures.ts";

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

  it("issues a ticket in two D1 round trips: every read, then every write", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const { db, trips } = countingRoundTrips(env.DB);
    const jws = await signAs(a, TICKETS_PATH, { dest: "b", channel: "two-trips" });
    const ticket = await requestTicket(db, keys, LIMIT, jws, nowSeconds());
    expect(ticket).toMatchObject({ peer: "trips/b", relay: { name: "trips-relay" } });
    expect(trips()).toBe(2);
  });

  it("refuses its replay in the same two round trips, and writes nothing for it", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const jws = await signAs(a, TICKETS_PATH, { dest: "b", channel: "replayed" });
    await requestTicket(env.DB, keys, LIMIT, jws, nowSeconds());
    const audit = () => env.DB.prepare("SELECT count(*) AS n FROM tickets").first<{ n: number }>();
    const before = await audit();
    const { db, trips } = countingRoundTrips(env.DB);
    await expect(requestTicket(db, keys, LIMIT, jws, nowSeconds())).rejects.toMatchObject({
      code: "REQUEST_REPLAYED",
    });
    expect(trips()).toBe(2);
    expect(await audit()).toEqual(before);
  });

  it("issues tickets for several peers in the same two round trips, with one signature check", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const { db, trips } = countingRoundTrips(env.DB);
    const jws = await signAs(a, TICKETS_PATH, { dests: ["b", "c", "d", "e"], channel: "mpc" });
    const verify = vi.spyOn(crypto.subtle, "verify");
    try {
      const answer = await requestTicket(db, keys, LIMIT, jws, nowSeconds());
      expect(answer).toMatchObject({
        tickets: [{ peer: "trips/b" }, { peer: "trips/c" }, { peer: "trips/d" }, { peer: "trips/e" }],
      });
      expect(verify).toHaveBeenCalledTimes(1);
    } finally {
      verify.mockRestore();
    }
    expect(trips()).toBe(2);
  });
});
