import { describe, expect, it } from "vitest";
import {
  assertCsrNames,
  MAX_CSR_PEM_CHARS,
  MIN_RSA_MODULUS_BITS,
  parseCsr,
} from "../../../worker/pki/csr.ts";
import { makeCsr } from "../support/fixtures.ts";

const ALLOWED = {
  commonName: "a",
  organization: "alice",
  organizationalUnit: "flock-party",
  uri: "urn:flock:party:alice:a",
};

describe("parseCsr", () => {
  it("accepts an EC P-256 CSR and reports its key kind", async () => {
    const { pem } = await makeCsr({ subject: "CN=a" });
    expect((await parseCsr(pem)).keyKind).toBe("ec");
  });

  it("refuses a PEM longer than MAX_CSR_PEM_CHARS before parsing it", async () => {
    const { pem } = await makeCsr();
    const padded = pem + " ".repeat(MAX_CSR_PEM_CHARS);
    await expect(parseCsr(padded)).rejects.toMatchObject({ code: "BAD_CSR" });
  });

  it("refuses an RSA key shorter than MIN_RSA_MODULUS_BITS", async () => {
    const keys = (await crypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: MIN_RSA_MODULUS_BITS - 1024,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const { pem } = await makeCsr({ kind: "rsa", keys });
    await expect(parseCsr(pem)).rejects.toMatchObject({ code: "BAD_CSR" });
  });

  it("refuses a certificate where a CSR belongs", async () => {
    const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    await expect(parseCsr(cert)).rejects.toMatchObject({ code: "BAD_CSR" });
  });
});

describe("assertCsrNames", () => {
  it("accepts an empty subject, and one naming exactly what the worker would", async () => {
    for (const options of [
      {},
      { subject: "CN=a, O=alice, OU=flock-party", uris: ["urn:flock:party:alice:a"] },
    ]) {
      const { csr } = await parseCsr((await makeCsr(options)).pem);
      expect(() => assertCsrNames(csr, ALLOWED)).not.toThrow();
    }
  });

  it("refuses a second, different CN even next to the right one", async () => {
    const { csr } = await parseCsr((await makeCsr({ subject: "CN=a, CN=b" })).pem);
    expect(() => assertCsrNames(csr, ALLOWED)).toThrow(
      expect.objectContaining({ code: "CSR_SUBJECT_MISMATCH" }),
    );
  });

  it("refuses an O when none is allowed (relay CSRs)", async () => {
    const { csr } = await parseCsr((await makeCsr({ subject: "O=alice" })).pem);
    const relay = { commonName: "r1", organizationalUnit: "flock-relay", uri: "urn:flock:relay:r1" };
    expect(() => assertCsrNames(csr, relay)).toThrow(
      expect.objectContaining({ code: "CSR_SUBJECT_MISMATCH" }),
    );
  });
});
