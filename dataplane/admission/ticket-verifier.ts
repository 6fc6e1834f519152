import { KeyObject, verify } from "node:crypto";
import type { CryptoKey } from "jose";
import { FlockError } from "../../protocol/errors.ts";
import type { TicketClaims } from "../../protocol/ticket.ts";
import { splitPartyRef, TICKET_ALG, TICKET_ISSUER, TICKET_TYPE } from "../../protocol/ticket.ts";
import { MAX_TICKET_LIFETIME_SECONDS, TICKET_CLOCK_TOLERANCE_SECONDS } from "../config.ts";
import type { JwksCache } from "../worker-link/jwks-cache.ts";
import { ReplayCache } from "./replay-cache.ts";

/** Claims every ticket carries; a ticket without one is refused before its signature is checked. */
const REQUIRED_CLAIMS = ["exp", "nbf", "iat", "jti", "sub", "aud"] as const;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Offline ticket checks against the worker's JWKS, in the order a token should be checked
 * (pinned algorithm, structure, header, time claims, issuer and audience, signature), then the
 * shape of Flock's own claims. The jti is burnt separately (`consume`) and only after the proof
 * of key passed, so someone holding a stolen ticket but not the key cannot use it up.
 *
 * The signature is checked with node:crypto in the hello's own turn: WebCrypto's verify (what
 * jose uses) is a thread-pool job, about three times the latency and twice the CPU of this,
 * twice per pair.
 */
export class TicketVerifier {
  readonly #relayName: string;
  readonly #jwks: JwksCache;
  readonly #used = new ReplayCache();
  /** The JWKS's keys as node:crypto wants them; a rotated-out key's entry goes with it. */
  readonly #keyObjects = new WeakMap<CryptoKey, KeyObject>();

  constructor(relayName: string, jwks: JwksCache) {
    this.#relayName = relayName;
    this.#jwks = jwks;
  }

  async verify(ticket: string): Promise<TicketClaims> {
    const parts = ticket.split(".");
    const [headerPart, payloadPart, signaturePart] = parts;
    if (
      parts.length !== 3 ||
      headerPart === undefined ||
      payloadPart === undefined ||
      signaturePart === undefined ||
      ![headerPart, payloadPart, signaturePart].every((part) => BASE64URL.test(part))
    ) {
      throw new FlockError("TICKET_INVALID");
    }
    const header = jsonObject(headerPart);
    // No `crit`: no extension this verifier does not know can change what the signature covers.
    if (header.alg !== TICKET_ALG || header.crit !== undefined) throw new FlockError("TICKET_INVALID");
    if (header.typ !== TICKET_TYPE) throw claimError("typ");
    if (typeof header.kid !== "string") throw new FlockError("TICKET_INVALID", "The ticket has no kid.");
    const payload = jsonObject(payloadPart);
    checkTimes(payload);
    if (payload.iss !== TICKET_ISSUER) throw claimError("iss");
    const aud = payload.aud;
    if (!(aud === this.#relayName || (Array.isArray(aud) && aud.includes(this.#relayName)))) {
      throw new FlockError("TICKET_WRONG_AUDIENCE");
    }
    const key = this.#keyObject(await this.#jwks.key(header.kid));
    const signed = Buffer.from(`${headerPart}.${payloadPart}`);
    let valid = false;
    try {
      valid = verify(null, signed, key, Buffer.from(signaturePart, "base64url"));
    } catch {
      // A signature of the wrong length for Ed25519: not a signature of this key either.
    }
    if (!valid) throw new FlockError("TICKET_INVALID");
    checkLifetime(payload);
    return checkClaims(payload);
  }

  /** One-time use: the first presentation wins, every later one is a replay. */
  consume(claims: TicketClaims): void {
    if (!this.#used.useOnce(claims.jti, claims.exp + TICKET_CLOCK_TOLERANCE_SECONDS)) {
      throw new FlockError("TICKET_REPLAYED");
    }
  }

  #keyObject(key: CryptoKey): KeyObject {
    let object = this.#keyObjects.get(key);
    if (!object) {
      object = KeyObject.from(key);
      this.#keyObjects.set(key, object);
    }
    return object;
  }
}

function jsonObject(part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw new FlockError("TICKET_INVALID");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new FlockError("TICKET_INVALID");
  return value as Record<string, unknown>;
}

function claimError(claim: string): FlockError {
  return new FlockError("TICKET_INVALID", `The ticket's ${claim} claim is not acceptable.`);
}

/** Every required claim present, the time claims finite numbers, and now within nbf..exp give or take the tolerance. */
function checkTimes(payload: Record<string, unknown>): void {
  for (const claim of REQUIRED_CLAIMS) if (payload[claim] === undefined) throw claimError(claim);
  for (const claim of ["exp", "nbf", "iat"] as const) {
    const value = payload[claim];
    if (typeof value !== "number" || !Number.isFinite(value)) throw claimError(claim);
  }
  const now = Math.floor(Date.now() / 1000);
  if ((payload.nbf as number) > now + TICKET_CLOCK_TOLERANCE_SECONDS) {
    throw new FlockError("TICKET_INVALID", "The ticket is not valid yet; check the clock.");
  }
  if ((payload.exp as number) <= now - TICKET_CLOCK_TOLERANCE_SECONDS) throw new FlockError("TICKET_EXPIRED");
}

/**
 * The life a ticket claims (exp − iat), or what is left of it when its iat lies in the
 * future, is bounded: a long-lived ticket would outlast any revocation of its party.
 */
function checkLifetime({ iat, exp }: Record<string, unknown>): void {
  // checkTimes made sure both are finite numbers.
  const lifetime = (exp as number) - Math.min(iat as number, Math.floor(Date.now() / 1000));
  if (lifetime > MAX_TICKET_LIFETIME_SECONDS) {
    throw new FlockError(
      "TICKET_INVALID",
      `The ticket lives ${lifetime} s, more than the ${MAX_TICKET_LIFETIME_SECONDS} s this data plane accepts.`,
    );
  }
}

const isRef = (value: unknown) => typeof value === "string" && splitPartyRef(value) !== undefined;

function checkClaims(p: Record<string, unknown>): TicketClaims {
  const cnf = p.cnf as Record<string, unknown> | undefined;
  if (
    !isRef(p.sub) ||
    !isRef(p.peer) ||
    typeof p.pair !== "string" ||
    p.pair.length === 0 ||
    typeof p.chn !== "string" ||
    (p.role !== "client" && p.role !== "server") ||
    typeof p.jti !== "string" ||
    typeof cnf !== "object" ||
    cnf === null ||
    typeof cnf["x5t#S256"] !== "string"
  ) {
    throw new FlockError(
      "TICKET_INVALID",
      "The ticket lacks a Flock claim (sub, peer, pair, chn, role, cnf).",
    );
  }
  return p as unknown as TicketClaims;
}
