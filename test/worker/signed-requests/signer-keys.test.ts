import { beforeAll, describe, expect, it } from "vitest";
import {
  cachedSignerKeys,
  MAX_CACHED_SIGNER_KEYS,
  signerKeyOf,
} from "../../../worker/signed-requests/signer-keys.ts";
import { createParty, createUser, type Signer } from "../support/fixtures.ts";

const data = new TextEncoder().encode("signed by the party");

async function signedBy(signer: Signer): Promise<ArrayBuffer> {
  const algorithm = signer.kind === "ec" ? { name: "ECDSA", hash: "SHA-256" } : { name: "RSASSA-PKCS1-v1_5" };
  return crypto.subtle.sign(algorithm, signer.keys.privateKey, data);
}

describe("signerKeyOf", () => {
  let ec: Signer;
  let rsa: Signer;

  beforeAll(async () => {
    await createUser("keys");
    ec = await createParty("keys", "ec");
    rsa = await createParty("keys", "rsa", "rsa");
  });

  it("imports each certificate's key once, for the algorithm it serves", async () => {
    const first = signerKeyOf(ec.certificate);
    expect(signerKeyOf(ec.certificate)).toBe(first);
    const key = await first;
    expect(key.algorithm).toMatchObject({ name: "ECDSA", namedCurve: "P-256" });
    expect(
      await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, await signedBy(ec), data),
    ).toBe(true);
    const rsaKey = await signerKeyOf(rsa.certificate);
    expect(rsaKey.algorithm).toMatchObject({ name: "RSASSA-PKCS1-v1_5" });
    expect(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", rsaKey, await signedBy(rsa), data)).toBe(true);
  });

  it("keeps nothing for a text that is not a certificate, so it fails every time", async () => {
    const before = cachedSignerKeys();
    const bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    const first = signerKeyOf(bad);
    await expect(first).rejects.toThrow();
    const second = signerKeyOf(bad);
    expect(second).not.toBe(first);
    await expect(second).rejects.toThrow();
    expect(cachedSignerKeys()).toBe(before);
  });

  it(`holds at most MAX_CACHED_SIGNER_KEYS (${MAX_CACHED_SIGNER_KEYS}) certificates, dropping the oldest`, {
    timeout: 60_000,
  }, async () => {
    // The same certificate with more and more trailing newlines: distinct texts, all valid.
    const text = (i: number) => `${ec.certificate.trimEnd()}${"\n".repeat(i + 1)}`;
    const oldest = signerKeyOf(text(0));
    for (let i = 1; i <= MAX_CACHED_SIGNER_KEYS; i++) await signerKeyOf(text(i));
    expect(cachedSignerKeys()).toBe(MAX_CACHED_SIGNER_KEYS);
    const newest = signerKeyOf(text(MAX_CACHED_SIGNER_KEYS));
    expect(signerKeyOf(text(MAX_CACHED_SIGNER_KEYS))).toBe(newest);
    expect(signerKeyOf(text(0))).not.toBe(oldest);
  });
});
