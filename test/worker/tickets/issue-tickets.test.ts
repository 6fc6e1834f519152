import { env } from "cloudflare:test";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_TICKETS_PER_REQUEST, MAX_UNREACHABLE_RELAYS } from "../../../protocol/api.ts";
import { findParty, insertParty, type PartyRow } from "../../../worker/db/parties.ts";
import { insertRelay } from "../../../worker/db/relays.ts";
import { insertUser } from "../../../worker/db/users.ts";
import { issueTickets } from "../../../worker/tickets/issue-tickets.ts";
import { loadTicketKeys } from "../../../worker/tickets/ticket-keys.ts";
import { parseTicketRequestBody } from "../../../worker/tickets/ticket-request-body.ts";
import { IDLE_LOAD } from "../support/fixtures.ts";
import { listLiveRelays, recordRelayReport } from "../support/registry-rows.ts";
import { findTicket } from "../support/ticket-rows.ts";

const NOW = Math.floor(Date.now() / 1000);

describe("issueTickets (no HTTP)", () => {
  let caller: PartyRow;

  beforeAll(async () => {
    await insertUser(env.DB, "u", NOW);
    for (const name of ["x", "y", "z", "w"]) {
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
    await recordRelayReport(env.DB, "r", { ...IDLE_LOAD, capacity: 1 }, NOW);
    const row = await findParty(env.DB, "u", "x");
    if (!row) throw new Error("fixture");
    caller = row;
  });

  it("signs a ticket bound to the caller's fingerprint and records it", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const order = {
      caller,
      request: { dest: "y", channel: "c.1" },
      dests: [await findParty(env.DB, "u", "y")].filter((row) => row !== undefined),
      live: await listLiveRelays(env.DB, NOW),
    };
    const [res] = await issueTickets(env.DB, keys, order, NOW);
    if (!res) throw new Error("no ticket");
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

  it("issues one ticket per destination in the order asked, each recorded, in one batch", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const dests = await Promise.all(["w", "y", "z"].map((name) => findParty(env.DB, "u", name)));
    const order = {
      caller,
      request: { dests: ["w", "y", "z"], channel: "mpc" },
      dests: dests.filter((row) => row !== undefined),
      live: await listLiveRelays(env.DB, NOW),
    };
    const tickets = await issueTickets(env.DB, keys, order, NOW);
    expect(tickets.map((t) => t.peer)).toEqual(["u/w", "u/y", "u/z"]);
    for (const t of tickets) {
      const claims = decodeJwt(t.ticket);
      expect(claims).toMatchObject({ sub: "u/x", chn: "mpc", aud: "r", pair: t.pair });
      expect(await findTicket(env.DB, String(claims.jti))).toMatchObject({
        dest: claims.peer?.toString().slice(2),
        relay: "r",
      });
    }
    expect(new Set(tickets.map((t) => t.pair)).size).toBe(3);
  });

  it("issues none when one destination is unknown, and names it", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const before = await env.DB.prepare("SELECT count(*) AS n FROM tickets").first();
    const order = {
      caller,
      request: { dests: ["y", "ghost"] },
      dests: [await findParty(env.DB, "u", "y")].filter((row) => row !== undefined),
      live: await listLiveRelays(env.DB, NOW),
    };
    await expect(issueTickets(env.DB, keys, order, NOW)).rejects.toMatchObject({
      code: "UNKNOWN_DEST",
      message: expect.stringContaining("ghost"),
    });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM tickets").first()).toEqual(before);
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
    expect(parseTicketRequestBody({ dests: ["y", "z"], channel: "c" })).toEqual({
      dests: ["y", "z"],
      channel: "c",
    });
    for (const bad of [
      { dests: [] },
      { dests: "y" },
      { dests: ["y", "y"] },
      { dest: "y", dests: ["z"] },
      { dests: Array.from({ length: MAX_TICKETS_PER_REQUEST + 1 }, (_, i) => `p${i}`) },
    ]) {
      expect(() => parseTicketRequestBody(bad), JSON.stringify(bad).slice(0, 40)).toThrow(
        expect.objectContaining({ code: "BAD_REQUEST" }),
      );
    }
    expect(() => parseTicketRequestBody({ dests: ["ok", "../no"] })).toThrow(
      expect.objectContaining({ code: "INVALID_NAME" }),
    );
  });

  it("takes at most MAX_UNREACHABLE_RELAYS valid relay names as unreachable", () => {
    const names = Array.from({ length: MAX_UNREACHABLE_RELAYS }, (_, i) => `r${i}`);
    expect(parseTicketRequestBody({ dest: "y", unreachable: names })).toEqual({
      dest: "y",
      unreachable: names,
    });
    expect(parseTicketRequestBody({ dests: ["y"], unreachable: names })).toEqual({
      dests: ["y"],
      unreachable: names,
    });
    for (const bad of [{ unreachable: [...names, "one-more"] }, { unreachable: "r1" }]) {
      expect(() => parseTicketRequestBody({ dest: "y", ...bad })).toThrow(
        expect.objectContaining({ code: "BAD_REQUEST" }),
      );
    }
    expect(() => parseTicketRequestBody({ dest: "y", unreachable: ["../r1"] })).toThrow(
      expect.objectContaining({ code: "INVALID_NAME" }),
    );
  });
});
