import { FlockError } from "../../protocol/errors.ts";
import {
  type SignedRequestPayload,
  signedRequestKid,
  verifySignedRequest,
} from "../../protocol/signed-request.ts";
import { REQUEST_MAX_SKEW_SECONDS } from "../../protocol/ticket.ts";
import { claimRequestNonce } from "../db/request-nonces.ts";
import { signerKeyOf } from "./signer-keys.ts";

/** The registry record a signed request's kid names, with its stored certificate. */
export interface Signer<T> {
  record: T;
  pem: string;
  notAfter: number;
}

/**
 * Authenticates a request signed with a relay key (a party's or a data plane's): look the
 * certificate up by kid (its x5t#S256), verify signature, endpoint binding and iat, then
 * burn the jti so the same request cannot be played again within the skew window.
 * The caller checks what the signer may do (revocation and so on).
 */
export async function authenticateSignedRequest<T>(
  db: D1Database,
  jws: string,
  method: string,
  path: string,
  findSigner: (kid: string) => Promise<Signer<T> | undefined>,
  now: number,
): Promise<{ signer: T; payload: SignedRequestPayload<unknown> }> {
  const kid = signedRequestKid(jws);
  const verified = await verifySignedRequestOf(jws, method, path, await findSigner(kid), now);
  const { payload } = verified;
  const fresh = await claimRequestNonce(db, kid, payload.jti, payload.iat + REQUEST_MAX_SKEW_SECONDS, now);
  if (!fresh) throw new FlockError("REQUEST_REPLAYED");
  return verified;
}

/**
 * Everything authenticateSignedRequest checks except the jti: for a caller that burns the
 * jti in its own write batch (tickets), so accepting a request costs no round trip of its own.
 * `signer` is what the kid named in the registry, if anything.
 */
export async function verifySignedRequestOf<T>(
  jws: string,
  method: string,
  path: string,
  signer: Signer<T> | undefined,
  now: number,
): Promise<{ signer: T; payload: SignedRequestPayload<unknown> }> {
  if (!signer) throw new FlockError("BAD_SIGNATURE", "No registered certificate has this key id.");
  if (signer.notAfter <= now) throw new FlockError("CERT_INVALID", "The signing certificate has expired.");
  const key = await signerKeyOf(signer.pem);
  return { signer: signer.record, payload: await verifySignedRequest(jws, key, method, path, now) };
}
