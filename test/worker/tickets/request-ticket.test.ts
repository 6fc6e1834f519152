import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { TICKETS_PATH } from "../../../protocol/wire.ts";
import { nowSeconds } from "../../../worker/db/time.ts";
import { requestTicket } from "../../../worker/tickets/request-ticket.ts";
import { loadTicketKeys } from "../../../worker/tickets/ticket-keys.ts";
import {
  createParty,
  createRelay,
  createUser,
  reportLoad,
  type Signer,
  signAs,
} from "../support/fixtures.ts";

/** The database, counting round trips: one per batch and one per statement run on its own. */
function countingRoundTrips(db: D1Database): { db: D1Database; trips: () => number } {
  let trips = 0;
  const counted = (statement: D1PreparedStatement): D1PreparedStatement => {
    const bind = statement.bind.bind(statement);
    for (const run of ["first", "all", "run", "raw"] as const) {
      const original = (statement[run] as (...args: unknown[]) => unknown).bind(statement);
      Object.assign(statement, {
        [run]: (...args: unknown[]) => {
          trips++;
          return original(...args);
        },
      });
    }
    statement.bind = (...values: unknown[]) => counted(bind(...values));
    return statement;
  };
  const wrapped = new Proxy(db, {
    get(target, property) {
      if (property === "prepare") return (query: string) => counted(target.prepare(query));
      if (property === "batch")
        return (statements: D1PreparedStatement[]) => {
          trips++;
          return target.batch(statements);
        };
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db: wrapped, trips: () => trips };
}

describe("requestTicket (no HTTP)", () => {
  let a: Signer;

  beforeAll(async () => {
    await createUser("trips");
    a = await createParty("trips", "a");
    await createParty("trips", "b");
    expect((await reportLoad(await createRelay("trips-relay"))).status).toBe(200);
  });

  it("issues a ticket in two D1 round trips: every read, then every write", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const { db, trips } = countingRoundTrips(env.DB);
    const jws = await signAs(a, TICKETS_PATH, { dest: "b", channel: "two-trips" });
    const ticket = await requestTicket(db, keys, jws, nowSeconds());
    expect(ticket).toMatchObject({ peer: "trips/b", relay: { name: "trips-relay" } });
    expect(trips()).toBe(2);
  });

  it("refuses its replay in the same two round trips, and writes nothing for it", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const jws = await signAs(a, TICKETS_PATH, { dest: "b", channel: "replayed" });
    await requestTicket(env.DB, keys, jws, nowSeconds());
    const audit = () => env.DB.prepare("SELECT count(*) AS n FROM tickets").first<{ n: number }>();
    const before = await audit();
    const { db, trips } = countingRoundTrips(env.DB);
    await expect(requestTicket(db, keys, jws, nowSeconds())).rejects.toMatchObject({
      code: "REQUEST_REPLAYED",
    });
    expect(trips()).toBe(2);
    expect(await audit()).toEqual(before);
  });
});
