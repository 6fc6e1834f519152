import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { findParty, insertParty, type PartyRow } from "../../../worker/db/parties.ts";
import { insertRelay, listLiveRelays } from "../../../worker/db/relays.ts";
import { findTicket } from "../../../worker/db/tickets.ts";
import { insertUser } from "../../../worker/db/users.ts";
import { issueTicket, parseTicketRequestBody } from "../../../worker/tickets/issue-ticket.ts";
import { loadTicketKeys } from "../../../worker/tickets/ticket-keys.ts";
import { recordRelayReport } from "../support/registry-rows.ts";

const NOW = Math.floor(Date.now() / 1000);

describe("issueTicket (no HTTP)", () => {
  let caller: PartyRow;

  beforeAll(async () => {
    await insertUser(env.DB, "u", NOW);
    for (const name of ["x", "y"]) {
      await insertParty(
        env.DB,
        { user: "u", name, relayCert: "", fingerprint: `fp-${name}`, notAfter: NOW + 999 },
        NOW,
      );
    }
    await insertRelay(
      env.DB,
      { name: "r", hosts: ["h.example"], port: 7, cert: "", fingerprint: "fp-r", notAfter: NOW + 999 },
      NOW,
    );
    await recordRelayReport(
      env.DB,
      "r",
      { activePairs: 0, waitingSides: 0, bytesPerSecond: 0, capacity: 1 },
      NOW,
    );
    const row = await findParty(env.DB, "u", "x");
    if (!row) throw new Error("fixture");
    caller = row;
  });

  it("signs a ticket bound to the caller's fingerprint and records it", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const order = {
      caller,
      request: { dest: "y", channel: "c.1" },
      dest: await findParty(env.DB, "u", "y"),
      live: await listLiveRelays(env.DB, NOW),
    };
    const res = await issueTicket(env.DB, keys, order, NOW);
    const claims = decodeJwt(res.ticket);
    expect(claims).toMatchObject({
      sub: "u/x",
      peer: "u/y",
      chn: "c.1",
      aud: "r",
      cnf: { "x5t#S256": "fp-x" },
    });
    expect(await findTicket(env.DB, String(claims.jti))).toEqual({
      jti: claims.jti,
      user: "u",
      party: "x",
      dest: "y",
      pair: res.pair,
      relay: "r",
      issuedAt: NOW,
      expiresAt: claims.exp,
    });
  });

  it("validates the signed body", () => {
    expect(parseTicketRequestBody({ dest: "y" })).toEqual({ dest: "y" });
    expect(() => parseTicketRequestBody(null)).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
    expect(() => parseTicketRequestBody({ dest: "y", channel: 5 })).toThrow(
      expect.objectContaining({ code: "BAD_REQUEST" }),
    );
    expect(() => parseTicketRequestBody({ dest: "../y" })).toThrow(
      expect.objectContaining({ code: "INVALID_NAME" }),
    );
  });
});
