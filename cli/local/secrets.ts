// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect
// metadata polyfill loaded before the library itself.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from "jose";
import { toBase64Url } from "../../protocol/encoding.ts";

/** The worker's secrets (contract: exactly these keys), as `wrangler secret put` takes them. */
export interface Secrets {
  RELAY_CA_CERT: string;
  RELAY_CA_KEY: string;
  TICKET_KEYS: string;
  ADMIN_TOKEN: string;
  BACKEND_SECRET_KEY: string;
}

/** The relay CA outlives the year-long leaves it signs, but not by a decade. */
export const RELAY_CA_VALIDITY_DAYS = 730;
const ADMIN_TOKEN_BYTES = 32;
const BACKEND_KEY_BYTES = 32;
const MS_PER_DAY = 86_400_000;
/** Absorbs clock skew between this machine and whoever checks the chain. */
const CA_BACKDATE_MS = 5 * 60_000;

x509.cryptoProvider.set(webcrypto);

export async function generateSecrets(): Promise<Secrets> {
  const ca = await generateRelayCa();
  return {
    RELAY_CA_CERT: ca.certPem,
    RELAY_CA_KEY: ca.keyPem,
    TICKET_KEYS: JSON.stringify([await generateTicketJwk()]),
    ADMIN_TOKEN: toBase64Url(webcrypto.getRandomValues(new Uint8Array(ADMIN_TOKEN_BYTES))),
    BACKEND_SECRET_KEY: Buffer.from(webcrypto.getRandomValues(new Uint8Array(BACKEND_KEY_BYTES))).toString(
      "base64",
    ),
  };
}

/** A private Ed25519 JWK whose kid is its RFC 7638 thumbprint (stable, and unique per key). */
export async function generateTicketJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: "EdDSA", use: "sig" };
}

async function generateRelayCa(): Promise<{ certPem: string; keyPem: string }> {
  const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const notBefore = new Date(Date.now() - CA_BACKDATE_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(
      webcrypto.getRandomValues(new Uint8Array(16)).map((b, i) => (i === 0 ? (b & 0x3f) | 0x40 : b)),
    ).toString("hex"),
    name: "CN=Flock Relay CA, OU=flock-relay-ca",
    notBefore,
    notAfter: new Date(notBefore.getTime() + RELAY_CA_VALIDITY_DAYS * MS_PER_DAY),
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd()}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString("pem"), keyPem };
}
