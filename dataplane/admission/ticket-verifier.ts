import { errors, jwtVerify } from "jose";
import { FlockError } from "../../protocol/errors.ts";
import type { TicketClaims } from "../../protocol/ticket.ts";
import { splitPartyRef, TICKET_ALG, TICKET_ISSUER, TICKET_TYPE } from "../../protocol/ticket.ts";
import { MAX_TICKET_LIFETIME_SECONDS, TICKET_CLOCK_TOLERANCE_SECONDS } from "../config.ts";
import type { JwksCache } from "../worker-link/jwks-cache.ts";
import { ReplayCache } from "./replay-cache.ts";

/**
 * Offline ticket checks against the worker's JWKS, in the order a token should be checked:
 * pinned algorithm and type, signature, time claims, issuer and audience, then the shape
 * of Flock's own claims. The jti is burnt separately (`consume`) and only after the proof
 * of key passed, so someone holding a stolen ticket but not the key cannot use it up.
 */
export class TicketVerifier {
  readonly #relayName: string;
  readonly #jwks: JwksCache;
  readonly #used = new ReplayCache();

  constructor(relayName: string, jwks: JwksCache) {
    this.#relayName = relayName;
    this.#jwks = jwks;
  }

  async verify(ticket: string): Promise<TicketClaims> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(
        ticket,
        async (header) => {
          if (typeof header.kid !== "string")
            throw new FlockError("TICKET_INVALID", "The ticket has no kid.");
          return this.#jwks.key(header.kid);
        },
        {
          algorithms: [TICKET_ALG],
          typ: TICKET_TYPE,
          issuer: TICKET_ISSUER,
          audience: this.#relayName,
          clockTolerance: TICKET_CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ["exp", "nbf", "iat", "jti", "sub", "aud"],
        },
      ));
    } catch (error) {
      throw ticketError(error);
    }
    checkLifetime(payload);
    return checkClaims(payload);
  }

  /** One-time use: the first presentation wins, every later one is a replay. */
  consume(claims: TicketClaims): void {
    if (!this.#used.useOnce(claims.jti, claims.exp + TICKET_CLOCK_TOLERANCE_SECONDS)) {
      throw new FlockError("TICKET_REPLAYED");
    }
  }
}

function ticketError(error: unknown): FlockError {
  if (error instanceof FlockError) return error;
  if (error instanceof errors.JWTExpired) return new FlockError("TICKET_EXPIRED");
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "aud") return new FlockError("TICKET_WRONG_AUDIENCE");
    if (error.claim === "nbf")
      return new FlockError("TICKET_INVALID", "The ticket is not valid yet; check the clock.");
    return new FlockError("TICKET_INVALID", `The ticket's ${error.claim} claim is not acceptable.`);
  }
  return new FlockError("TICKET_INVALID");
}

/**
 * The life a ticket claims (exp − iat), or what is left of it when its iat lies in the
 * future, is bounded: a long-lived ticket would outlast any revocation of its party.
 */
function checkLifetime({ iat, exp }: Record<string, unknown>): void {
  // jwtVerify required both and checked that they are numbers.
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
