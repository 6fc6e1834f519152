import "reflect-metadata";
import { randomBytes } from "node:crypto";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { partyUri } from "../../protocol/names.ts";
import type { KeyMaterial } from "./keys.ts";

/**
 * Bounded validity (SECURITY.md, "What each key protects"): a stolen user CA or party key
 * stops working on its own.
 */
export const USER_CA_VALIDITY_DAYS = 730;
export const PARTY_CERT_VALIDITY_DAYS = 365;
/** notBefore is set this far in the past so a peer whose clock runs a little behind still accepts. */
export const NOT_BEFORE_BACKDATE_SECONDS = 300;
const DAY_MS = 86_400_000;

/** Positive 128-bit serial (RFC 5280: unique per CA, at most 20 octets, positive). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString("hex");
}

function validity(days: number, notAfterCap?: Date): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  const notAfter = new Date(now + days * DAY_MS);
  return {
    notBefore: new Date(now - NOT_BEFORE_BACKDATE_SECONDS * 1000),
    notAfter: notAfterCap && notAfterCap < notAfter ? notAfterCap : notAfter,
  };
}

export function userCaName(user: string): string {
  return `CN=${user} Flock User CA, O=${user}`;
}

/** The user CA: made and kept by the CLI, never uploaded; only it can mint identities the user's parties accept. */
export async function createUserCa(key: KeyMaterial, user: string): Promise<string> {
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: userCaName(user),
    ...validity(USER_CA_VALIDITY_DAYS),
    keys: key.keys,
    signingAlgorithm: key.signingAlgorithm,
    extensions: [
      // pathLen 0: it signs party certificates only, never another CA.
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(key.keys.publicKey),
    ],
  });
  return cert.toString("pem");
}

/**
 * The end-to-end party certificate: either side of a pair may be the TLS server, so it
 * carries both serverAuth and clientAuth; the SAN URI is what the SDK checks. The DNS SAN
 * (the party name) is what the original relay's Go client checks as its ServerName = DEST.
 */
export async function signPartyCertificate(
  caPem: string,
  caKey: KeyMaterial,
  partyKey: KeyMaterial,
  user: string,
  party: string,
): Promise<string> {
  const ca = new X509Certificate(caPem);
  const usage =
    partyKey.type === "rsa"
      ? KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment
      : KeyUsageFlags.digitalSignature;
  const cert = await X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${party}, O=${user}`,
    issuer: ca.subject,
    ...validity(PARTY_CERT_VALIDITY_DAYS, ca.notAfter),
    publicKey: partyKey.keys.publicKey,
    signingKey: caKey.keys.privateKey,
    signingAlgorithm: caKey.signingAlgorithm,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(usage, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
      new SubjectAlternativeNameExtension([
        { type: "url", value: partyUri(user, party) },
        { type: "dns", value: party },
      ]),
      await SubjectKeyIdentifierExtension.create(partyKey.keys.publicKey),
      await AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  return cert.toString("pem");
}
