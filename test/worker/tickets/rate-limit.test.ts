import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { TICKETS_PATH } from "../../../protocol/wire.ts";
import { nowSeconds } from "../../../worker/db/time.ts";
import worker from "../../../worker/index.ts";
import {
  availableTickets,
  DEFAULT_TICKET_BURST,
  DEFAULT_TICKETS_PER_SECOND,
  type TicketRateLimit,
  ticketRateLimitOf,
} from "../../../worker/tickets/rate-limit.ts";
import { requestTicket } from "../../../worker/tickets/request-ticket.ts";
import { loadTicketKeys } from "../../../worker/tickets/ticket-keys.ts";
import {
  BASE,
  createParty,
  createRelay,
  createUserWithParties,
  expectError,
  reportLoad,
  type Signer,
  signAs,
} from "../support/fixtures.ts";

const auditRows = async (party: string) =>
  (
    await env.DB.prepare("SELECT count(*) AS n FROM tickets WHERE user_name = 'limited' AND party = ?")
      .bind(party)
      .first<{ n: number }>()
  )?.n;

/** POST /v1/tickets through the worker with these vars set, as wrangler.toml [vars] would. */
async function ticketWithVars(
  party: Signer,
  vars: Record<string, string>,
  body: unknown = { dest: "peer" },
): Promise<Response> {
  const jws = await signAs(party, TICKETS_PATH, body);
  const request = new Request(`${BASE}${TICKETS_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/jose" },
    body: jws,
  });
  const ctx = createExecutionContext();
  const response = await worker.fetch(request, { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("ticket rate limit", () => {
  let a: Signer;
  let b: Signer;
  let c: Signer;

  beforeAll(async () => {
    [a, b, c] = await createUserWithParties("limited", "a", "b", "c", "peer");
    expect((await reportLoad(await createRelay("limited-relay"))).status).toBe(200);
  });

  it("defaults to DEFAULT_TICKET_BURST at once and DEFAULT_TICKETS_PER_SECOND, and refuses a var that is not a positive number", () => {
    expect(ticketRateLimitOf({})).toEqual({
      perSecond: DEFAULT_TICKETS_PER_SECOND,
      burst: DEFAULT_TICKET_BURST,
    });
    expect(ticketRateLimitOf({ TICKETS_PER_SECOND: "0.5", TICKET_BURST: 20 })).toEqual({
      perSecond: 0.5,
      burst: 20,
    });
    for (const bad of ["0", "-1", "ten", "Infinity"]) {
      expect(() => ticketRateLimitOf({ TICKET_BURST: bad })).toThrow(
        /TICKET_BURST must be a positive number/,
      );
    }
    expect(() => ticketRateLimitOf({ TICKETS_PER_SECOND: "x" })).toThrow(/TICKETS_PER_SECOND/);
  });

  it("answers 429 RATE_LIMITED with Retry-After past the burst, and writes no ticket for it", async () => {
    const vars = { TICKETS_PER_SECOND: "0.25", TICKET_BURST: "3" };
    for (let i = 0; i < 3; i++) expect((await ticketWithVars(a, vars)).status).toBe(200);
    const refused = await ticketWithVars(a, vars);
    expect(refused.headers.get("retry-after")).toBe("4");
    await expectError(refused, 429, "RATE_LIMITED");
    expect(await auditRows("a")).toBe(3);
    // Buckets are per party: another party of the same user still gets its tickets.
    expect((await ticketWithVars(b, vars)).status).toBe(200);
  });

  it("takes one token per ticket of a request for several peers, and refuses more than TICKET_BURST at once", async () => {
    const vars = { TICKETS_PER_SECOND: "0.25", TICKET_BURST: "3" };
    const party = await createParty("limited", "many");
    await createParty("limited", "peer2");
    await createParty("limited", "peer3");
    const tooMany = await ticketWithVars(party, vars, { dests: ["peer", "peer2", "peer3", "a"] });
    const refusal = (await tooMany.clone().json()) as { error: string };
    expect(refusal.error).toContain("at most 3 tickets");
    await expectError(tooMany, 429, "RATE_LIMITED");
    expect((await ticketWithVars(party, vars, { dests: ["peer", "peer2", "peer3"] })).status).toBe(200);
    await expectError(await ticketWithVars(party, vars), 429, "RATE_LIMITED");
    expect(await auditRows("many")).toBe(3);
  });

  it("refills TICKETS_PER_SECOND tokens per second, never past the burst", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const limit: TicketRateLimit = { perSecond: 2, burst: 2 };
    const t0 = nowSeconds();
    const at = async (now: number) =>
      requestTicket(env.DB, keys, limit, await signAs(c, TICKETS_PATH, { dest: "peer" }, { iat: now }), now);
    await at(t0);
    await at(t0);
    await expect(at(t0)).rejects.toMatchObject({ code: "RATE_LIMITED", retryAfterSeconds: 1 });
    await at(t0 + 1);
    await at(t0 + 1);
    await expect(at(t0 + 1)).rejects.toMatchObject({ code: "RATE_LIMITED" });
    // A long pause fills the bucket to the burst only.
    const bucket = { tokens: 0, updated_at: t0 };
    expect(availableTickets(bucket, limit, t0 + 3600)).toBe(2);
    // A clock that went back refills nothing.
    expect(availableTickets(bucket, limit, t0 - 10)).toBe(0);
  });

  it("refuses in the write batch when another isolate took the last token after this one read the bucket", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const limit: TicketRateLimit = { perSecond: 1, burst: 1 };
    const party = await createParty("limited", "racer");
    const now = nowSeconds();
    const before = await auditRows("racer");
    // The read batch (the first) saw a full bucket; before the write batch (the second) runs,
    // the other isolate empties it.
    let batches = 0;
    const racing = new Proxy(env.DB, {
      get(target, property) {
        if (property === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            if (++batches === 2) {
              await target
                .prepare(
                  "INSERT INTO ticket_buckets (user_name, party, tokens, updated_at) VALUES ('limited', 'racer', 0, ?)",
                )
                .bind(now)
                .run();
            }
            return target.batch(statements);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const jws = await signAs(party, TICKETS_PATH, { dest: "peer" }, { iat: now });
    await expect(requestTicket(racing, keys, limit, jws, now)).rejects.toMatchObject({
      code: "RATE_LIMITED",
      retryAfterSeconds: 1,
    });
    expect(await auditRows("racer")).toBe(before);
  });
});
