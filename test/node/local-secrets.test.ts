import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { calculateJwkThumbprint, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import { generateSecrets, generateTicketJwk, RELAY_CA_VALIDITY_DAYS } from "../../cli/local/secrets.ts";

const DAY_MS = 86_400_000;

describe("generateSecrets", () => {
  it("makes exactly the contract's secrets", async () => {
    const secrets = await generateSecrets();
    expect(Object.keys(secrets).sort()).toEqual([
      "ADMIN_TOKEN",
      "BACKEND_SECRET_KEY",
      "RELAY_CA_CERT",
      "RELAY_CA_KEY",
      "TICKET_KEYS",
    ]);
    expect(secrets.ADMIN_TOKEN).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secrets.BACKEND_SECRET_KEY, "base64")).toHaveLength(32);
  });

  it("makes a P-256 relay CA whose key matches, valid for RELAY_CA_VALIDITY_DAYS", async () => {
    const { RELAY_CA_CERT, RELAY_CA_KEY } = await generateSecrets();
    const ca = new X509Certificate(RELAY_CA_CERT);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe("CN=Flock Relay CA\nOU=flock-relay-ca");
    expect(ca.checkPrivateKey(createPrivateKey(RELAY_CA_KEY))).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: "prime256v1" });
    const lifetime = Date.parse(ca.validTo) - Date.parse(ca.validFrom);
    expect(lifetime).toBe(RELAY_CA_VALIDITY_DAYS * DAY_MS);
    expect(ca.verify(ca.publicKey)).toBe(true);
  });

  it("makes private Ed25519 ticket keys whose kid is their RFC 7638 thumbprint", async () => {
    const keys = JSON.parse((await generateSecrets()).TICKET_KEYS) as JWK[];
    expect(keys).toHaveLength(1);
    const [jwk] = keys;
    if (!jwk) throw new Error("no key");
    expect(jwk).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(typeof jwk.d).toBe("string");
    expect(jwk.kid).toBe(await calculateJwkThumbprint(jwk));
    expect(createPublicKey({ key: jwk as never, format: "jwk" }).asymmetricKeyType).toBe("ed25519");
  });

  it("never repeats a secret", async () => {
    const [a, b] = await Promise.all([generateSecrets(), generateSecrets()]);
    for (const name of Object.keys(a) as (keyof typeof a)[]) expect(a[name]).not.toBe(b[name]);
    expect((await generateTicketJwk()).kid).not.toBe((await generateTicketJwk()).kid);
  });
});
