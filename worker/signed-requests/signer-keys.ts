import { x509 } from "../pki/x509.ts";

/**
 * Verification keys of signed requests, imported once per certificate per isolate: parsing
 * the certificate (ASN.1 in JavaScript) and importing its key was about 2 ms of worker CPU
 * in every ticket request. The certificate text itself is the cache key, so a cached key is
 * only ever the key of that exact certificate; whether its holder may still sign (expiry,
 * revocation) is read from D1 on every request, as before.
 */

/** Certificates remembered per isolate; past it the oldest is dropped (a miss costs one import). */
export const MAX_CACHED_SIGNER_KEYS = 1_000;

const imported = new Map<string, Promise<CryptoKey>>();

export function signerKeyOf(pem: string): Promise<CryptoKey> {
  const hit = imported.get(pem);
  if (hit) return hit;
  const key = importSignerKey(pem);
  // A certificate that does not import is not kept: it fails the same way every time.
  key.catch(() => imported.delete(pem));
  if (imported.size >= MAX_CACHED_SIGNER_KEYS) {
    const oldest = imported.keys().next().value;
    if (oldest !== undefined) imported.delete(oldest);
  }
  imported.set(pem, key);
  return key;
}

/** How many certificates are remembered, for the test of the bound. */
export function cachedSignerKeys(): number {
  return imported.size;
}

async function importSignerKey(pem: string): Promise<CryptoKey> {
  const publicKey = new x509.X509Certificate(pem).publicKey;
  // Import for exactly the JOSE algorithm the key can serve (ES256 or RS256).
  return publicKey.algorithm.name === "ECDSA"
    ? publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"])
    : publicKey.export({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, ["verify"]);
}
