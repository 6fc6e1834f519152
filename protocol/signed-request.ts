import type { CryptoKey as JoseKey, KeyObject } from "jose";
import { CompactSign, compactVerify, decodeProtectedHeader } from "jose";
import { fromBase64Url } from "./encoding.ts";
import { FlockError } from "./errors.ts";
import { REQUEST_MAX_SKEW_SECONDS } from "./ticket.ts";

/**
 * A request to the worker signed with a relay key (a party's or a data plane's), so the
 * worker stores only certificates, never a shared secret. The body is a compact JWS:
 *   header  {alg: ES256|RS256, typ: SIGNED_REQUEST_TYPE, kid: x5t#S256 of the relay certificate}
 *   payload {htm, htu, iat, jti, body}
 * `htm` + `htu` (method and path, as in DPoP, RFC 9449) stop a signature for one endpoint
 * being replayed at another; `jti` lets the worker refuse a replay within the skew window.
 */
export const SIGNED_REQUEST_TYPE = "flock-request+jwt";
export const SIGNED_REQUEST_CONTENT_TYPE = "application/jose";
export const SIGNED_REQUEST_ALGS = ["ES256", "RS256"] as const;
export type SignedRequestAlg = (typeof SIGNED_REQUEST_ALGS)[number];

export interface SignedRequestPayload<T> {
  htm: string;
  htu: string;
  iat: number;
  jti: string;
  body: T;
}

export async function signRequest<T>(
  key: JoseKey | KeyObject,
  alg: SignedRequestAlg,
  kid: string,
  method: string,
  path: string,
  body: T,
): Promise<string> {
  const { header, payload } = signedRequestParts(alg, kid, method, path, body);
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(key);
}

/**
 * The protected header and payload signRequest signs, for a signer of its own (the SDK signs
 * with node:crypto, synchronously, on every pair's setup).
 */
export function signedRequestParts<T>(
  alg: SignedRequestAlg,
  kid: string,
  method: string,
  path: string,
  body: T,
): {
  header: { alg: SignedRequestAlg; typ: typeof SIGNED_REQUEST_TYPE; kid: string };
  payload: SignedRequestPayload<T>;
} {
  const payload: SignedRequestPayload<T> = {
    htm: method.toUpperCase(),
    htu: path,
    iat: Math.floor(Date.now() / 1000),
    jti: crypto.randomUUID(),
    body,
  };
  return { header: { alg, typ: SIGNED_REQUEST_TYPE, kid }, payload };
}

/** The key id a signed request claims, read before verification to look the key up. */
export function signedRequestKid(jws: string): string {
  try {
    const header = decodeProtectedHeader(jws);
    if (header.typ !== SIGNED_REQUEST_TYPE || typeof header.kid !== "string") throw new Error("header");
    if (!SIGNED_REQUEST_ALGS.includes(header.alg as SignedRequestAlg)) throw new Error("alg");
    return header.kid;
  } catch {
    throw new FlockError("BAD_SIGNATURE", "The request is not a Flock signed request.");
  }
}

/**
 * The body a signed request claims, NOT verified (undefined if it does not decode). Only for
 * reading ahead: the worker looks up what the body names in the same round trip as the
 * signer's certificate, and uses those rows only after verifySignedRequest has passed on
 * these same bytes.
 */
export function unverifiedBody(jws: string): unknown {
  try {
    const payload = JSON.parse(new TextDecoder().decode(fromBase64Url(jws.split(".")[1] ?? "")));
    return (payload as Partial<SignedRequestPayload<unknown>>)?.body;
  } catch {
    return undefined;
  }
}

/**
 * Verifies signature, endpoint binding and freshness. The caller looks the key up by kid
 * and checks the jti for replay.
 */
export async function verifySignedRequest(
  jws: string,
  key: JoseKey | KeyObject,
  method: string,
  path: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<SignedRequestPayload<unknown>> {
  let payload: unknown;
  try {
    const result = await compactVerify(jws, key, { algorithms: [...SIGNED_REQUEST_ALGS] });
    payload = JSON.parse(new TextDecoder().decode(result.payload));
  } catch {
    throw new FlockError("BAD_SIGNATURE");
  }
  const p = payload as Partial<SignedRequestPayload<unknown>>;
  if (typeof p !== "object" || p === null || typeof p.jti !== "string" || p.jti.length > 64) {
    throw new FlockError("BAD_SIGNATURE", "The signed request has no valid jti.");
  }
  if (p.htm !== method.toUpperCase() || p.htu !== path) {
    throw new FlockError("BAD_SIGNATURE", "The signed request was made for another endpoint.");
  }
  if (
    typeof p.iat !== "number" ||
    !Number.isFinite(p.iat) ||
    Math.abs(nowSeconds - p.iat) > REQUEST_MAX_SKEW_SECONDS
  ) {
    throw new FlockError("REQUEST_EXPIRED");
  }
  return p as SignedRequestPayload<unknown>;
}
