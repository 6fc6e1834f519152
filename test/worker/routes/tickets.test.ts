import { env } from "cloudflare:test";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TicketResponse, TicketsResponse } from "../../../protocol/api.ts";
import {
  MAX_TICKETS_PER_REQUEST,
  RELAY_LIVE_SECONDS,
  RELAY_REPORT_INTERVAL_SECONDS,
} from "../../../protocol/api.ts";
import { errorMessage } from "../../../protocol/errors.ts";
import { DEFAULT_CHANNEL } from "../../../protocol/names.ts";
import { highestRandomWeight } from "../../../protocol/rendezvous.ts";
import {
  pairId,
  REQUEST_MAX_SKEW_SECONDS,
  TICKET_ISSUER,
  TICKET_TTL_SECONDS,
  TICKET_TYPE,
  type TicketClaims,
} from "../../../protocol/ticket.ts";
import { findRelay } from "../../../worker/db/relays.ts";
import {
  admin,
  createParty,
  createRelay,
  createUser,
  createUserWithParties,
  expectError,
  generateKeys,
  postSigned,
  reportLoad,
  requestTicket,
  type Signer,
  signAs,
} from "../support/fixtures.ts";

const TICKETS = "/v1/tickets";

/** Makes every relay look silent for longer than RELAY_LIVE_SECONDS. */
async function silenceRelays(): Promise<void> {
  const stale = Math.floor(Date.now() / 1000) - RELAY_LIVE_SECONDS - 1;
  await env.DB.prepare("UPDATE relays SET last_report_at = ?").bind(stale).run();
}

async function ticketOf(res: Response): Promise<TicketResponse> {
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as TicketResponse;
}

async function verifyWithJwks(ticket: string, audience: string): Promise<TicketClaims> {
  const jwks = (await (await admin("/.well-known/jwks.json")).json()) as Parameters<
    typeof createLocalJWKSet
  >[0];
  const { payload } = await jwtVerify(ticket, createLocalJWKSet(jwks), {
    algorithms: ["EdDSA"],
    issuer: TICKET_ISSUER,
    audience,
    typ: TICKET_TYPE,
  });
  return payload as unknown as TicketClaims;
}

describe("POST /v1/tickets", () => {
  let a: Signer;
  let b: Signer;
  let relay: Signer;

  beforeAll(async () => {
    [a, b] = await createUserWithParties("alice", "a", "b");
    await createUser("bob");
    relay = await createRelay("r1");
  });

  beforeEach(async () => {
    await silenceRelays();
    expect((await reportLoad(relay)).status).toBe(200);
  });

  it("issues a ticket that verifies with the JWKS and carries the contract's claims", async () => {
    const res = await requestTicket(a, "b");
    const body = await ticketOf(res);
    const pair = await pairId("alice", "a", "b", DEFAULT_CHANNEL);
    expect(body).toEqual({
      ticket: expect.any(String),
      expiresAt: expect.any(String),
      pair,
      role: "client",
      peer: "alice/b",
      relay: { name: "r1", hosts: ["127.0.0.1"], port: 6000 },
    });

    const claims = await verifyWithJwks(body.ticket, "r1");
    expect(claims).toEqual({
      iss: TICKET_ISSUER,
      aud: "r1",
      sub: "alice/a",
      peer: "alice/b",
      pair,
      chn: DEFAULT_CHANNEL,
      role: "client",
      iat: expect.any(Number),
      nbf: claims.iat,
      exp: claims.iat + TICKET_TTL_SECONDS,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      cnf: { "x5t#S256": a.fingerprint },
    });
    expect(new Date(body.expiresAt).getTime()).toBe(claims.exp * 1000);

    // Signed by the first configured key; the second (rotation) key is published but idle.
    const configured = JSON.parse(env.TICKET_KEYS) as { kid: string }[];
    expect(configured.length).toBe(2);
    expect(decodeProtectedHeader(body.ticket)).toEqual({
      alg: "EdDSA",
      typ: TICKET_TYPE,
      kid: configured[0]?.kid,
    });

    const audit = await env.DB.prepare(
      "SELECT user_name, party, dest, pair, relay FROM tickets WHERE jti = ?",
    )
      .bind(claims.jti)
      .first();
    expect(audit).toEqual({ user_name: "alice", party: "a", dest: "b", pair, relay: "r1" });
  });

  it("gives the two sides the same pair and opposite roles", async () => {
    const fromA = await ticketOf(await requestTicket(a, "b", "chat"));
    const fromB = await ticketOf(await requestTicket(b, "a", "chat"));
    expect(fromB.pair).toBe(fromA.pair);
    expect([fromA.role, fromB.role]).toEqual(["client", "server"]);
    expect(fromB.peer).toBe("alice/a");
    const claimsB = await verifyWithJwks(fromB.ticket, fromB.relay.name);
    expect(claimsB).toMatchObject({
      sub: "alice/b",
      peer: "alice/a",
      chn: "chat",
      cnf: { "x5t#S256": b.fingerprint },
    });
  });

  it("puts both sides of a pair on the same relay even after a new relay starts reporting", async () => {
    // Find a channel whose pair the new relay would win under rendezvous hashing, so the
    // test fails if the second side were routed by hash alone.
    const newcomer = await createRelay("r2");
    const rows = [await findRelay(env.DB, "r1"), await findRelay(env.DB, "r2")].filter(
      (r) => r !== undefined,
    );
    let channel = "";
    for (let i = 0; ; i++) {
      const pair = await pairId("alice", "a", "b", `c${i}`);
      if ((await highestRandomWeight(pair, rows)).name === "r2") {
        channel = `c${i}`;
        break;
      }
    }
    await silenceRelays();
    await reportLoad(relay);
    const first = await ticketOf(await requestTicket(a, "b", channel));
    expect(first.relay.name).toBe("r1");

    expect((await reportLoad(newcomer)).status).toBe(200);
    const second = await ticketOf(await requestTicket(b, "a", channel));
    expect(second.relay.name).toBe("r1");
    expect(second.pair).toBe(first.pair);

    // A brand-new pair sees both relays and is hashed onto them.
    const other = await ticketOf(await requestTicket(a, "b", `${channel}-fresh`));
    expect(["r1", "r2"]).toContain(other.relay.name);
  });

  it("puts both sides on one relay when they ask at the same moment with several relays live", async () => {
    const spare = await createRelay("r-spare");
    await reportLoad(spare);
    for (let i = 0; i < 8; i++) {
      const [fromA, fromB] = await Promise.all([
        requestTicket(a, "b", `race-${i}`),
        requestTicket(b, "a", `race-${i}`),
      ]);
      const [ta, tb] = [await ticketOf(fromA), await ticketOf(fromB)];
      expect(tb.relay.name).toBe(ta.relay.name);
      expect((await verifyWithJwks(tb.ticket, ta.relay.name)).aud).toBe(ta.relay.name);
    }
  });

  it("moves a pair off a relay that stopped reporting", async () => {
    const first = await ticketOf(await requestTicket(a, "b", "moving"));
    expect(first.relay.name).toBe("r1");
    const backup = await createRelay("r3");
    await silenceRelays();
    await reportLoad(backup);
    const second = await ticketOf(await requestTicket(b, "a", "moving"));
    expect(second.relay.name).toBe("r3");
  });

  it("answers 503 NO_RELAY_AVAILABLE with its sentence when no relay reported recently", async () => {
    await silenceRelays();
    const res = await requestTicket(a, "b");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe(String(RELAY_REPORT_INTERVAL_SECONDS));
    expect(await res.json()).toEqual({
      code: "NO_RELAY_AVAILABLE",
      error: errorMessage("NO_RELAY_AVAILABLE"),
    });
  });

  it("serves an RSA party (RS256 signed request)", async () => {
    const rsa = await createParty("alice", "rsa", "rsa");
    const body = await ticketOf(await requestTicket(rsa, "a"));
    expect(await verifyWithJwks(body.ticket, "r1")).toMatchObject({ sub: "alice/rsa", role: "server" });
  });

  it("answers {tickets} for several dests, each the ticket a single request would get", async () => {
    await createParty("alice", "m1");
    await createParty("alice", "m2");
    const res = await postSigned(
      TICKETS,
      await signAs(a, TICKETS, { dests: ["m2", "b", "m1"], channel: "mpc" }),
    );
    expect(res.status, await res.clone().text()).toBe(200);
    const { tickets } = (await res.json()) as TicketsResponse;
    expect(tickets.map((t) => t.peer)).toEqual(["alice/m2", "alice/b", "alice/m1"]);
    for (const t of tickets) {
      const dest = t.peer.split("/")[1] ?? "";
      expect(t.pair).toBe(await pairId("alice", "a", dest, "mpc"));
      expect(await verifyWithJwks(t.ticket, "r1")).toMatchObject({
        sub: "alice/a",
        peer: t.peer,
        chn: "mpc",
      });
    }
    // The other side asking alone meets it on the same pair and relay.
    const back = await ticketOf(await requestTicket(b, "a", "mpc"));
    expect(back.pair).toBe(tickets[1]?.pair);
    expect(back.relay).toEqual(tickets[1]?.relay);
  });

  it("fits MAX_TICKETS_PER_REQUEST dests of the longest names in one signed request, RSA included", async () => {
    const rsa = await createParty("alice", "rsa-many", "rsa");
    const dests = Array.from(
      { length: MAX_TICKETS_PER_REQUEST },
      (_, i) => `${"n".repeat(62)}${String(i).padStart(2, "0")}`,
    );
    // Not one of them exists, which the worker says only after it read the whole body.
    await expectError(await postSigned(TICKETS, await signAs(rsa, TICKETS, { dests })), 404, "UNKNOWN_DEST");
  });

  describe("refusals", () => {
    it("an unsigned request: 401 BAD_SIGNATURE", async () => {
      await expectError(await postSigned(TICKETS, JSON.stringify({ dest: "b" })), 401, "BAD_SIGNATURE");
      await expectError(await postSigned(TICKETS, ""), 401, "BAD_SIGNATURE");
    });

    it("a request signed with a key other than the certificate's (forged kid): 401 BAD_SIGNATURE", async () => {
      const forger: Signer = { ...a, keys: await generateKeys() };
      await expectError(
        await postSigned(TICKETS, await signAs(forger, TICKETS, { dest: "b" })),
        401,
        "BAD_SIGNATURE",
      );
    });

    it("a kid that names no registered certificate: 401 BAD_SIGNATURE", async () => {
      const jws = await signAs(a, TICKETS, { dest: "b" }, { kid: "A".repeat(43) });
      await expectError(await postSigned(TICKETS, jws), 401, "BAD_SIGNATURE");
    });

    it("a request signed by a data plane instead of a party: 401 BAD_SIGNATURE", async () => {
      await expectError(
        await postSigned(TICKETS, await signAs(relay, TICKETS, { dest: "b" })),
        401,
        "BAD_SIGNATURE",
      );
    });

    it("a request signed for another endpoint: 401 BAD_SIGNATURE", async () => {
      const jws = await signAs(a, TICKETS, { dest: "b" }, { htu: "/v1/relays/report" });
      await expectError(await postSigned(TICKETS, jws), 401, "BAD_SIGNATURE");
      const get = await signAs(a, TICKETS, { dest: "b" }, { htm: "GET" });
      await expectError(await postSigned(TICKETS, get), 401, "BAD_SIGNATURE");
    });

    it("a stale or future iat beyond REQUEST_MAX_SKEW_SECONDS: 401 REQUEST_EXPIRED", async () => {
      const now = Math.floor(Date.now() / 1000);
      for (const iat of [now - REQUEST_MAX_SKEW_SECONDS - 5, now + REQUEST_MAX_SKEW_SECONDS + 5]) {
        const jws = await signAs(a, TICKETS, { dest: "b" }, { iat });
        await expectError(await postSigned(TICKETS, jws), 401, "REQUEST_EXPIRED");
      }
    });

    it("a replayed request: 401 REQUEST_REPLAYED", async () => {
      const jws = await signAs(a, TICKETS, { dest: "b" });
      await ticketOf(await postSigned(TICKETS, jws));
      await expectError(await postSigned(TICKETS, jws), 401, "REQUEST_REPLAYED");
    });

    it("a replay of a request refused the first time: 401 REQUEST_REPLAYED (refusals burn the jti too)", async () => {
      const jws = await signAs(a, TICKETS, { dest: "nobody" });
      await expectError(await postSigned(TICKETS, jws), 404, "UNKNOWN_DEST");
      await expectError(await postSigned(TICKETS, jws), 401, "REQUEST_REPLAYED");
    });

    it("a replay after the caller was revoked: 401 REQUEST_REPLAYED, as before any other check", async () => {
      const later = await createParty("alice", "replayed-then-revoked");
      const jws = await signAs(later, TICKETS, { dest: "b" });
      await ticketOf(await postSigned(TICKETS, jws));
      await admin("/v1/users/alice/parties/replayed-then-revoked/revoke", { method: "POST" });
      await expectError(await postSigned(TICKETS, jws), 401, "REQUEST_REPLAYED");
    });

    it("a request signed by a revoked party: 403 PARTY_REVOKED", async () => {
      const revoked = await createParty("alice", "revoked-caller");
      await admin("/v1/users/alice/parties/revoked-caller/revoke", { method: "POST" });
      await expectError(await requestTicket(revoked, "b"), 403, "PARTY_REVOKED");
    });

    it("a party revoked after its key was used (and kept by the isolate): 403 PARTY_REVOKED", async () => {
      const later = await createParty("alice", "revoked-later");
      await ticketOf(await requestTicket(later, "b"));
      await admin("/v1/users/alice/parties/revoked-later/revoke", { method: "POST" });
      await expectError(await requestTicket(later, "b"), 403, "PARTY_REVOKED");
    });

    it("a relay certificate that expired after its key was used: 401 CERT_INVALID", async () => {
      const later = await createParty("alice", "expired-later");
      await ticketOf(await requestTicket(later, "b"));
      await env.DB.prepare(
        "UPDATE parties SET not_after = 1 WHERE user_name = 'alice' AND name = 'expired-later'",
      ).run();
      await expectError(await requestTicket(later, "b"), 401, "CERT_INVALID");
    });

    it("a request signed with an expired relay certificate: 401 CERT_INVALID", async () => {
      const expired = await createParty("alice", "expired");
      await env.DB.prepare(
        "UPDATE parties SET not_after = 1 WHERE user_name = 'alice' AND name = 'expired'",
      ).run();
      await expectError(await requestTicket(expired, "b"), 401, "CERT_INVALID");
    });

    it("a revoked destination: 403 DEST_REVOKED", async () => {
      await createParty("alice", "revoked-dest");
      await admin("/v1/users/alice/parties/revoked-dest/revoke", { method: "POST" });
      await expectError(await requestTicket(a, "revoked-dest"), 403, "DEST_REVOKED");
    });

    it("an unknown destination: 404 UNKNOWN_DEST", async () => {
      await expectError(await requestTicket(a, "nobody"), 404, "UNKNOWN_DEST");
    });

    it("a destination that exists only under another user: 404 UNKNOWN_DEST", async () => {
      await createParty("bob", "bob-only");
      await expectError(await requestTicket(a, "bob-only"), 404, "UNKNOWN_DEST");
      // And from the other side: bob's party cannot name alice's.
      const bobParty = await createParty("bob", "x");
      await expectError(await requestTicket(bobParty, "a"), 404, "UNKNOWN_DEST");
    });

    it("a destination name shared by two users resolves within the caller's own user", async () => {
      await createParty("bob", "shared");
      await createParty("alice", "shared");
      const body = await ticketOf(await requestTicket(a, "shared"));
      expect(body.peer).toBe("alice/shared");
      expect(body.pair).toBe(await pairId("alice", "a", "shared", DEFAULT_CHANNEL));
    });

    it("itself as destination: 400 SAME_PARTY", async () => {
      await expectError(await requestTicket(a, "a"), 400, "SAME_PARTY");
    });

    it.each([
      "b'; DROP TABLE parties; --",
      "alice/b",
      "",
      "b\u0000",
    ])("an invalid destination name %j: 400 INVALID_NAME", async (dest) => {
      await expectError(await requestTicket(a, dest), 400, "INVALID_NAME");
    });

    it("an invalid channel: 400 BAD_REQUEST", async () => {
      await expectError(await requestTicket(a, "b", "a b"), 400, "BAD_REQUEST");
      await expectError(await requestTicket(a, "b", "x".repeat(65)), 400, "BAD_REQUEST");
    });

    it("a signed body that is not an object: 400 BAD_REQUEST", async () => {
      await expectError(await postSigned(TICKETS, await signAs(a, TICKETS, "b")), 400, "BAD_REQUEST");
    });
  });
});
