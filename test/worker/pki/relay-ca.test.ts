import "reflect-metadata";
import { env } from "cloudflare:test";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { parseCsr } from "../../../worker/pki/csr.ts";
import {
  CERT_BACKDATE_SECONDS,
  issuePartyCertificate,
  LEAF_VALIDITY_DAYS,
  loadRelayCa,
} from "../../../worker/pki/relay-ca.ts";
import { makeCsr, thumbprintOfPem } from "../support/fixtures.ts";

const NOW = Math.floor(Date.now() / 1000);
const DAY = 86_400;

async function shortLivedCa(days: number): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=Short CA",
    notBefore: new Date((NOW - 60) * 1000),
    notAfter: new Date((NOW + days * DAY) * 1000),
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey("pkcs8", keys.privateKey)) as ArrayBuffer);
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${btoa(String.fromCharCode(...pkcs8))}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString("pem"), keyPem };
}

describe("relay CA", () => {
  it("issues leaves valid for LEAF_VALIDITY_DAYS from a backdated start", async () => {
    const ca = await loadRelayCa(env.RELAY_CA_CERT, env.RELAY_CA_KEY);
    const leaf = await issuePartyCertificate(ca, await parseCsr((await makeCsr()).pem), "alice", "a", NOW);
    const cert = new x509.X509Certificate(leaf.pem);
    expect(cert.notBefore.getTime() / 1000).toBe(NOW - CERT_BACKDATE_SECONDS);
    expect(cert.notAfter.getTime() / 1000).toBe(NOW - CERT_BACKDATE_SECONDS + LEAF_VALIDITY_DAYS * DAY);
    expect(leaf.notAfter).toBe(cert.notAfter.getTime() / 1000);
    expect(leaf.fingerprint).toBe(await thumbprintOfPem(leaf.pem));
    // The issuer is the CA's encoded name, byte for byte, so chain building matches.
    expect(cert.issuerName.toString()).toBe(ca.cert.subjectName.toString());
  });

  it("never lets a leaf outlive the CA", async () => {
    const short = await shortLivedCa(10);
    const ca = await loadRelayCa(short.certPem, short.keyPem);
    const leaf = await issuePartyCertificate(ca, await parseCsr((await makeCsr()).pem), "alice", "a", NOW);
    expect(new x509.X509Certificate(leaf.pem).notAfter.getTime()).toBe(ca.cert.notAfter.getTime());
  });

  it("gives every leaf a fresh positive serial", async () => {
    const ca = await loadRelayCa(env.RELAY_CA_CERT, env.RELAY_CA_KEY);
    const csr = await parseCsr((await makeCsr()).pem);
    const serials = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const serial = new x509.X509Certificate((await issuePartyCertificate(ca, csr, "alice", "a", NOW)).pem)
        .serialNumber;
      expect(serial).toMatch(/^[4-7][0-9a-f]{31}$/);
      serials.add(serial);
    }
    expect(serials.size).toBe(20);
  });
});
