import { certificateThumbprint } from "../../protocol/encoding.ts";
import { FRELAY_SERVER_NAME } from "../../protocol/frelay.ts";
import { partyUri, relayUri } from "../../protocol/names.ts";
import type { KeyKind, VerifiedCsr } from "./csr.ts";
import type { Host } from "./hosts.ts";
import { pemToDer, x509 } from "./x509.ts";

/** Leaf certificates live at most a year (contract: ≤ 365 days) and never outlive the CA. */
export const LEAF_VALIDITY_DAYS = 365;
/** Backdating notBefore absorbs clock skew between the worker and whoever checks the cert. */
export const CERT_BACKDATE_SECONDS = 300;
const SECONDS_PER_DAY = 86_400;
const CA_SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" };

export interface RelayCa {
  cert: x509.X509Certificate;
  key: CryptoKey;
  pem: string;
}

export interface IssuedLeaf {
  pem: string;
  fingerprint: string;
  notAfter: number;
}

/** Importing the CA key costs a little; an isolate keeps it for the secrets it was given. */
const loaded = new Map<string, Promise<RelayCa>>();

export function loadRelayCa(certPem: string, keyPem: string): Promise<RelayCa> {
  const cacheKey = `${certPem}\n${keyPem}`;
  let ca = loaded.get(cacheKey);
  if (!ca) {
    ca = importRelayCa(certPem, keyPem);
    ca.catch(() => loaded.delete(cacheKey));
    loaded.set(cacheKey, ca);
  }
  return ca;
}

async function importRelayCa(certPem: string, keyPem: string): Promise<RelayCa> {
  const cert = new x509.X509Certificate(certPem);
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pemToDer(keyPem, "PRIVATE KEY"),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  return { cert, key, pem: cert.toString("pem") };
}

export function issuePartyCertificate(
  ca: RelayCa,
  request: VerifiedCsr,
  user: string,
  party: string,
  now: number,
): Promise<IssuedLeaf> {
  return issueLeaf(ca, request, now, {
    subject: `CN=${party}, O=${user}, OU=flock-party`,
    sans: [{ type: "url", value: partyUri(user, party) }],
    usages: [x509.ExtendedKeyUsage.clientAuth],
  });
}

export function issueRelayCertificate(
  ca: RelayCa,
  request: VerifiedCsr,
  relay: string,
  hosts: Host[],
  now: number,
): Promise<IssuedLeaf> {
  return issueLeaf(ca, request, now, {
    subject: `CN=${relay}, OU=flock-relay`,
    sans: [
      { type: "url", value: relayUri(relay) },
      // The original relay's Go client checks this name (docs/coming-from-frelay.md).
      { type: "dns", value: FRELAY_SERVER_NAME },
      ...hosts
        .filter((host) => host.value !== FRELAY_SERVER_NAME)
        .map((host) => ({ type: host.kind, value: host.value })),
    ],
    usages: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  });
}

interface LeafProfile {
  /** Built from validated names only, so no RDN escaping is needed. */
  subject: string;
  sans: x509.JsonGeneralNames;
  usages: x509.ExtendedKeyUsage[];
}

async function issueLeaf(
  ca: RelayCa,
  { csr, keyKind }: VerifiedCsr,
  now: number,
  profile: LeafProfile,
): Promise<IssuedLeaf> {
  const notBefore = new Date((now - CERT_BACKDATE_SECONDS) * 1000);
  const notAfter = new Date(
    Math.min(notBefore.getTime() + LEAF_VALIDITY_DAYS * SECONDS_PER_DAY * 1000, ca.cert.notAfter.getTime()),
  );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: profile.subject,
    // The CA's own encoded name, so chain building matches byte for byte.
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter,
    signingAlgorithm: CA_SIGNING_ALGORITHM,
    publicKey: csr.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsageFor(keyKind), true),
      new x509.ExtendedKeyUsageExtension(profile.usages),
      new x509.SubjectAlternativeNameExtension(profile.sans),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return {
    pem: cert.toString("pem"),
    fingerprint: await certificateThumbprint(new Uint8Array(cert.rawData)),
    notAfter: Math.floor(notAfter.getTime() / 1000),
  };
}

function keyUsageFor(kind: KeyKind): x509.KeyUsageFlags {
  // RSA key exchange in TLS 1.2 needs keyEncipherment; ECDSA keys only ever sign.
  return kind === "rsa"
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature;
}

/**
 * 16 random bytes whose first byte is 0x40-0x7f: positive (RFC 5280 §4.1.2.2) with no
 * leading zero byte, so every serial has the same 16-byte DER length; 126 bits of entropy.
 */
function randomSerialHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
