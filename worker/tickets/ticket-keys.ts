import { importJWK, type JWK } from "jose";
import { TICKET_ALG } from "../../protocol/ticket.ts";

/** What /.well-known/jwks.json publishes for each key: the public half only. */
export interface PublicTicketJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: typeof TICKET_ALG;
  use: "sig";
}

export interface TicketKeys {
  /** The first configured key signs new tickets. */
  signing: { kid: string; key: CryptoKey };
  /** Every configured key is published, so tickets signed before a rotation still verify. */
  published: PublicTicketJwk[];
}

const loaded = new Map<string, Promise<TicketKeys>>();

/** Parses TICKET_KEYS (JSON array of private Ed25519 JWKs with kid) once per isolate. */
export function loadTicketKeys(json: string): Promise<TicketKeys> {
  let keys = loaded.get(json);
  if (!keys) {
    keys = importTicketKeys(json);
    keys.catch(() => loaded.delete(json));
    loaded.set(json, keys);
  }
  return keys;
}

async function importTicketKeys(json: string): Promise<TicketKeys> {
  let jwks: unknown;
  try {
    jwks = JSON.parse(json);
  } catch {
    // JSON.parse messages quote the input, and this input is private keys.
    throw new Error("TICKET_KEYS is not valid JSON");
  }
  if (!Array.isArray(jwks) || jwks.length === 0)
    throw new Error("TICKET_KEYS must be a non-empty JSON array");
  const published = jwks.map(toPublicJwk);
  if (new Set(published.map((k) => k.kid)).size !== published.length) {
    throw new Error("TICKET_KEYS has two keys with the same kid");
  }
  const first = jwks[0] as JWK;
  const key = await importJWK({ ...first, alg: TICKET_ALG }, TICKET_ALG);
  if (!(key instanceof CryptoKey) || key.type !== "private")
    throw new Error("the first ticket key is not private");
  return { signing: { kid: published[0]?.kid ?? "", key }, published };
}

function toPublicJwk(value: unknown): PublicTicketJwk {
  const jwk = value as Partial<JWK>;
  if (
    jwk?.kty !== "OKP" ||
    jwk.crv !== "Ed25519" ||
    typeof jwk.x !== "string" ||
    typeof jwk.d !== "string" ||
    typeof jwk.kid !== "string" ||
    jwk.kid.length === 0
  ) {
    throw new Error("each TICKET_KEYS entry must be a private Ed25519 JWK with a kid");
  }
  return { kty: "OKP", crv: "Ed25519", x: jwk.x, kid: jwk.kid, alg: TICKET_ALG, use: "sig" };
}
