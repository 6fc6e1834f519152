import { FlockError } from "../../protocol/errors.ts";
import { x509 } from "./x509.ts";

/** Smallest RSA modulus accepted in a CSR (NIST SP 800-131A). */
export const MIN_RSA_MODULUS_BITS = 2048;
/** A PEM CSR of an RSA-4096 key with a few SANs is about 2 KB; this leaves room and no more. */
export const MAX_CSR_PEM_CHARS = 8 * 1024;

export type KeyKind = "ec" | "rsa";

export interface VerifiedCsr {
  csr: x509.Pkcs10CertificateRequest;
  keyKind: KeyKind;
}

/**
 * Parses a PEM PKCS#10 request, checks its self-signature (proof the requester holds the
 * key) and that the key is one a signed request can use: ES256 needs P-256, RS256 needs RSA.
 */
export async function parseCsr(pem: unknown): Promise<VerifiedCsr> {
  if (typeof pem !== "string" || pem.length > MAX_CSR_PEM_CHARS || !pem.includes("CERTIFICATE REQUEST")) {
    throw new FlockError("BAD_CSR", "csr must be a PEM PKCS#10 certificate signing request.");
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw new FlockError("BAD_CSR");
  }
  const keyKind = csrKeyKind(csr.publicKey.algorithm);
  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  if (!verified) throw new FlockError("BAD_CSR", "The CSR's signature does not verify with its own key.");
  return { csr, keyKind };
}

interface KeyAlgorithmFields {
  name?: string;
  namedCurve?: string;
  modulusLength?: number;
}

function csrKeyKind(algorithm: { name: string }): KeyKind {
  const alg = algorithm as KeyAlgorithmFields;
  if (alg.name === "ECDSA" && alg.namedCurve === "P-256") return "ec";
  if (alg.name === "RSASSA-PKCS1-v1_5" && (alg.modulusLength ?? 0) >= MIN_RSA_MODULUS_BITS) return "rsa";
  throw new FlockError(
    "BAD_CSR",
    `The CSR key must be ECDSA P-256 or RSA of at least ${MIN_RSA_MODULUS_BITS} bits.`,
  );
}

/** The names a CSR may mention; anything else it claims is refused, never copied. */
export interface AllowedNames {
  commonName: string;
  organization?: string;
  organizationalUnit: string;
  uri: string;
}

/**
 * The worker builds the certificate's subject and SANs itself; the CSR contributes only
 * its key. Still, a CSR that claims a different identity is refused, so a mistake (or an
 * attempt) is reported instead of silently rewritten.
 */
export function assertCsrNames(csr: x509.Pkcs10CertificateRequest, allowed: AllowedNames): void {
  const subject = csr.subjectName;
  const only = (field: string, value: string | undefined) =>
    subject.getField(field).every((v) => v === value);
  const sanUris = sanExtensions(csr).flatMap((san) =>
    san.names.items.filter((n) => n.type === "url").map((n) => n.value),
  );
  if (
    !only("CN", allowed.commonName) ||
    !only("O", allowed.organization) ||
    !only("OU", allowed.organizationalUnit) ||
    !sanUris.every((uri) => uri === allowed.uri)
  ) {
    throw new FlockError(
      "CSR_SUBJECT_MISMATCH",
      `The CSR must name only ${allowed.uri} (subject "${csr.subject}").`,
    );
  }
}

function sanExtensions(csr: x509.Pkcs10CertificateRequest): x509.SubjectAlternativeNameExtension[] {
  try {
    return csr.getExtensions("2.5.29.17").map((ext) => new x509.SubjectAlternativeNameExtension(ext.rawData));
  } catch {
    throw new FlockError("BAD_CSR", "The CSR's subject alternative names cannot be parsed.");
  }
}
