import { env } from "cloudflare:test";
import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { TICKET_ALG, TICKET_ISSUER, TICKET_TYPE, type TicketClaims } from "../../../protocol/ticket.ts";
import { signTicketJws } from "../../../worker/tickets/sign-ticket.ts";
import { loadTicketKeys } from "../../../worker/tickets/ticket-keys.ts";

const now = Math.floor(Date.now() / 1000);
const claims: TicketClaims = {
  iss: TICKET_ISSUER,
  aud: "relay-1",
  sub: "acme/alice",
  peer: "acme/bob",
  pair: "p".repeat(43),
  chn: "default",
  role: "client",
  iat: now,
  nbf: now,
  exp: now + 120,
  jti: crypto.randomUUID(),
  cnf: { "x5t#S256": "f".repeat(43) },
};

describe("signTicketJws", () => {
  it("makes a ticket a data plane's jose check accepts: EdDSA, its type, the key's kid", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const ticket = await signTicketJws(keys.signing, claims);
    expect(decodeProtectedHeader(ticket)).toEqual({
      alg: TICKET_ALG,
      typ: TICKET_TYPE,
      kid: keys.signing.kid,
    });
    const published = await importJWK(keys.published[0] as unknown as Record<string, string>, TICKET_ALG);
    const { payload } = await jwtVerify(ticket, published, {
      algorithms: [TICKET_ALG],
      typ: TICKET_TYPE,
      issuer: TICKET_ISSUER,
      audience: "relay-1",
    });
    expect(payload).toEqual(claims);
  });

  it("signs the claims themselves: a changed one no longer verifies", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    const [header, , signature] = (await signTicketJws(keys.signing, claims)).split(".");
    const other = await signTicketJws(keys.signing, { ...claims, peer: "acme/mallory" });
    const forged = `${header}.${other.split(".")[1]}.${signature}`;
    const published = await importJWK(keys.published[0] as unknown as Record<string, string>, TICKET_ALG);
    await expect(jwtVerify(forged, published, { algorithms: [TICKET_ALG] })).rejects.toThrow();
  });
});
