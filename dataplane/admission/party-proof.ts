import { createHash, verify, X509Certificate } from "node:crypto";
import { fromBase64Url } from "../../protocol/encoding.ts";
import { FlockError } from "../../protocol/errors.ts";
import { helloProofInput } from "../../protocol/frames.ts";
import { parsePartyUri } from "../../protocol/names.ts";
import { partyRef } from "../../protocol/ticket.ts";

/** A party as proven by its relay certificate. */
export interface RelayPartyIdentity {
  user: string;
  party: string;
  /** `user/party` */
  ref: string;
  /** x5t#S256 of the relay certificate: what tickets bind to and revocations name. */
  thumbprint: string;
}

/** What a connection offers as proof that it holds a party's relay key. */
export interface ProofOffer {
  /** The TLS client certificate, when the transport is TLS and the client sent one. */
  tlsCertificate?: X509Certificate;
  /** hello.cert (base64 DER) and hello.sig (base64url) for the non-TLS transports. */
  cert?: string;
  sig?: string;
  nonce: string;
  /** What the signature binds to besides the nonce: the ticket hash or `direct:<dest>:<tag>`. */
  binding: string;
}

const CLIENT_AUTH_EKU = "1.3.6.1.5.5.7.3.2";

/** Hello certificates whose checks a data plane remembers; past it the oldest is dropped (a miss costs one check). */
export const MAX_CHECKED_CERTIFICATES = 1_000;

function refuse(why: string): never {
  throw new FlockError("CERT_INVALID", `The relay certificate is not acceptable: ${why}.`);
}

function checkValidity(cert: X509Certificate, now: Date): void {
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo))
    refuse("it is outside its validity period");
}

export function certificateThumbprintSync(cert: X509Certificate): string {
  return createHash("sha256").update(cert.raw).digest("base64url");
}

function partyUris(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice("URI:".length));
}

/**
 * Checks a party's relay certificate against the relay CA the way the TLS stack would
 * (issuer, signature, validity) plus what makes it a *party* certificate: not a CA,
 * usable for client auth, exactly one party SAN URI. Used for certificates sent in a hello
 * and for TLS client certificates, which the TLS stack lets through unchecked so that a
 * wrong one gets a CERT_INVALID frame rather than a silent close.
 */
export class RelayCertificateChecker {
  readonly #ca: X509Certificate;
  /**
   * Hello certificates (base64 DER, as sent) that passed every check that does not depend
   * on the time, with what the proof needs. Parsing and verifying the chain again was most of
   * a hello's CPU; the text is the DER itself, so an entry is only ever that certificate's.
   * The validity period, the proof signature and revocation are still checked per hello.
   */
  readonly #checked = new Map<string, { cert: X509Certificate; identity: RelayPartyIdentity }>();

  constructor(relayCaPem: string) {
    this.#ca = new X509Certificate(relayCaPem);
  }

  identify(cert: X509Certificate, now = new Date()): RelayPartyIdentity {
    const identity = this.#identifyAtAnyTime(cert);
    checkValidity(cert, now);
    return identity;
  }

  #identifyHelloCertificate(
    base64Der: string,
    now: Date,
  ): { cert: X509Certificate; identity: RelayPartyIdentity } {
    let checked = this.#checked.get(base64Der);
    if (!checked) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(Buffer.from(base64Der, "base64"));
      } catch {
        throw new FlockError("CERT_INVALID", "hello.cert is not a base64 DER certificate.");
      }
      checked = { cert, identity: this.#identifyAtAnyTime(cert) };
      if (this.#checked.size >= MAX_CHECKED_CERTIFICATES) {
        const oldest = this.#checked.keys().next().value;
        if (oldest !== undefined) this.#checked.delete(oldest);
      }
      this.#checked.set(base64Der, checked);
    }
    checkValidity(checked.cert, now);
    return checked;
  }

  /** Every check of identify() but the validity period. */
  #identifyAtAnyTime(cert: X509Certificate): RelayPartyIdentity {
    if (!cert.checkIssued(this.#ca) || !cert.verify(this.#ca.publicKey))
      refuse("it is not signed by the relay CA");
    if (cert.ca) refuse("it is a CA certificate");
    if (cert.keyUsage && !cert.keyUsage.includes(CLIENT_AUTH_EKU))
      refuse("it is not for client authentication");
    const parties = partyUris(cert).map(parsePartyUri);
    const party = parties[0];
    if (parties.length !== 1 || !party)
      refuse("it does not name exactly one party (SAN URI urn:flock:party:...)");
    return { ...party, ref: partyRef(party.user, party.party), thumbprint: certificateThumbprintSync(cert) };
  }

  /**
   * Proof of key: on TLS the handshake itself proved the client holds the key of the
   * certificate it sent; elsewhere the client signs this connection's nonce and binding.
   */
  prove(offer: ProofOffer): RelayPartyIdentity {
    if (offer.tlsCertificate) return this.identify(offer.tlsCertificate);
    if (offer.cert === undefined || offer.sig === undefined) {
      throw new FlockError(
        "PROOF_MISSING",
        "Send the relay certificate and a signature (or use TLS with it).",
      );
    }
    const { cert, identity } = this.#identifyHelloCertificate(offer.cert, new Date());
    let valid = false;
    try {
      valid = verify(
        "sha256",
        helloProofInput(offer.nonce, offer.binding),
        cert.publicKey,
        fromBase64Url(offer.sig),
      );
    } catch {
      valid = false;
    }
    if (!valid)
      throw new FlockError("PROOF_INVALID", "hello.sig does not verify with the relay certificate's key.");
    return identity;
  }
}
