import "reflect-metadata";
import { env } from "cloudflare:test";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import type { IssuedCertificate, Page, PartyInfo } from "../../../protocol/api.ts";
import {
  admin,
  adminPost,
  createParty,
  createUser,
  expectError,
  generateKeys,
  makeCsr,
  thumbprintOfPem,
} from "../support/fixtures.ts";

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const DAY_MS = 86_400_000;

async function postParty(user: string, name: string, csr: unknown): Promise<Response> {
  return adminPost(`/v1/users/${user}/parties`, { name, csr });
}

describe("/v1/users/:user/parties", () => {
  beforeAll(async () => {
    await createUser("alice");
    await createUser("bob");
  });

  it("signs a relay certificate from an EC CSR: 201 IssuedCertificate<PartyInfo>", async () => {
    const { pem, keys } = await makeCsr({ subject: "CN=a, O=alice", uris: ["urn:flock:party:alice:a"] });
    const res = await postParty("alice", "a", pem);
    expect(res.status).toBe(201);
    const body = (await res.json()) as IssuedCertificate<PartyInfo>;
    expect(body.item).toEqual({
      user: "alice",
      name: "a",
      status: "active",
      fingerprint: await thumbprintOfPem(body.certificate),
      notAfter: expect.any(String),
      createdAt: expect.any(String),
    });
    expect(body.relayCa).toBe(new x509.X509Certificate(env.RELAY_CA_CERT).toString("pem"));

    const cert = new x509.X509Certificate(body.certificate);
    expect(cert.subject).toBe("CN=a, O=alice, OU=flock-party");
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.names.items.map((n) => [n.type, n.value])).toEqual([["url", "urn:flock:party:alice:a"]]);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([CLIENT_AUTH]);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBeLessThanOrEqual(365 * DAY_MS);
    expect(new Date(body.item.notAfter).getTime()).toBe(cert.notAfter.getTime());
    // Chains to the relay CA and certifies the CSR's own key.
    const ca = new x509.X509Certificate(env.RELAY_CA_CERT);
    expect(await cert.verify({ publicKey: ca.publicKey, date: new Date() })).toBe(true);
    const spki = new Uint8Array((await crypto.subtle.exportKey("spki", keys.publicKey)) as ArrayBuffer);
    expect(new Uint8Array(cert.publicKey.rawData)).toEqual(spki);
  });

  it("signs an RSA CSR (made with WebCrypto) too", async () => {
    const { pem } = await makeCsr({ kind: "rsa" });
    const res = await postParty("alice", "rsa-party", pem);
    expect(res.status).toBe(201);
    const body = (await res.json()) as IssuedCertificate<PartyInfo>;
    expect(new x509.X509Certificate(body.certificate).publicKey.algorithm.name).toBe("RSASSA-PKCS1-v1_5");
  });

  it("refuses a duplicate party name with 409 PARTY_EXISTS", async () => {
    await createParty("alice", "dup");
    await expectError(await postParty("alice", "dup", (await makeCsr()).pem), 409, "PARTY_EXISTS");
  });

  it("allows the same party name under another user", async () => {
    await createParty("alice", "same");
    expect((await postParty("bob", "same", (await makeCsr()).pem)).status).toBe(201);
  });

  it("answers 404 USER_NOT_FOUND for a missing user", async () => {
    await expectError(await postParty("ghost", "p", (await makeCsr()).pem), 404, "USER_NOT_FOUND");
  });

  it.each([
    ["not a string", 42],
    ["missing", undefined],
    ["garbage", "hello"],
    ["a PEM of garbage", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"],
  ])("refuses a malformed CSR (%s): 400 BAD_CSR", async (_what, csr) => {
    await expectError(await postParty("alice", "bad", csr), 400, "BAD_CSR");
  });

  it("refuses a CSR whose signature does not verify: 400 BAD_CSR", async () => {
    const { pem } = await makeCsr({ subject: "CN=tampered" });
    const csr = new x509.Pkcs10CertificateRequest(pem);
    const der = new Uint8Array(csr.rawData);
    // Flip a bit in the last byte: inside the signature value.
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
    const tampered = new x509.Pkcs10CertificateRequest(der).toString("pem");
    await expectError(await postParty("alice", "tampered", tampered), 400, "BAD_CSR");
  });

  it("refuses a key a signed request cannot use (P-384): 400 BAD_CSR", async () => {
    const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-384" },
    });
    await expectError(await postParty("alice", "p384", csr.toString("pem")), 400, "BAD_CSR");
  });

  it.each([
    ["another party's CN", { subject: "CN=b, O=alice" }],
    ["another user's O", { subject: "CN=claim, O=bob" }],
    ["a relay OU", { subject: "CN=claim, OU=flock-relay" }],
    ["another user's SAN URI", { uris: ["urn:flock:party:bob:claim"] }],
    ["another party's SAN URI", { uris: ["urn:flock:party:alice:b"] }],
    ["a relay SAN URI", { uris: ["urn:flock:relay:claim"] }],
  ])("refuses a CSR naming %s: 403 CSR_SUBJECT_MISMATCH", async (_what, options) => {
    const { pem } = await makeCsr({ ...options, keys: await generateKeys() });
    await expectError(await postParty("alice", "claim", pem), 403, "CSR_SUBJECT_MISMATCH");
  });

  it("refuses invalid and SQL-laden names: 400 INVALID_NAME", async () => {
    const { pem } = await makeCsr();
    await expectError(await postParty("alice", "p'; DELETE FROM parties; --", pem), 400, "INVALID_NAME");
    await expectError(await postParty("a%27--", "p", pem), 400, "INVALID_NAME");
  });

  it("lists a user's parties and all parties, paged", async () => {
    const res = await admin("/v1/users/alice/parties?limit=2");
    expect(res.status).toBe(200);
    const first = (await res.json()) as Page<PartyInfo>;
    expect(first.items.map((p) => p.name)).toEqual(["a", "dup"]);
    const next = (await (
      await admin(`/v1/users/alice/parties?limit=2&cursor=${first.nextCursor}`)
    ).json()) as Page<PartyInfo>;
    expect(next.items.map((p) => p.name)).toEqual(["rsa-party", "same"]);
    expect(next.nextCursor).toBeUndefined();

    const all = (await (await admin("/v1/parties?limit=200")).json()) as Page<PartyInfo>;
    expect(all.items.map((p) => `${p.user}/${p.name}`)).toEqual([
      "alice/a",
      "alice/dup",
      "alice/rsa-party",
      "alice/same",
      "bob/same",
    ]);
    await expectError(await admin("/v1/users/ghost/parties"), 404, "USER_NOT_FOUND");
  });

  it("revokes a party: 200 {item} with status revoked; again is the same answer", async () => {
    await createParty("bob", "victim");
    const res = await admin("/v1/users/bob/parties/victim/revoke", { method: "POST" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { item: PartyInfo };
    expect(body.item).toMatchObject({
      user: "bob",
      name: "victim",
      status: "revoked",
      revokedAt: expect.any(String),
    });
    const again = await admin("/v1/users/bob/parties/victim/revoke", { method: "POST" });
    expect(await again.json()).toEqual(body);
    await expectError(
      await admin("/v1/users/bob/parties/nope/revoke", { method: "POST" }),
      404,
      "PARTY_NOT_FOUND",
    );
  });
});
