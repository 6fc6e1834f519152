import { FlockError } from "../../protocol/errors.ts";
import { type SignedRequestPayload, verifySignedRequest } from "../../protocol/signed-request.ts";
import { REQUEST_MAX_SKEW_SECONDS } from "../../protocol/ticket.ts";
import { claimRequestNonce, isReplayedNonce, recordRequestNonce } from "../db/request-nonces.ts";

/** The registry record a signed request's kid names, with its certificate's expiry and key. */
export interface Signer<T> {
  record: T;
  notAfter: number;
  /** The certificate's verification key: signerKeyOf(pem), or one the isolate remembered. */
  key: () => Promise<CryptoKey>;
}

/**
 * Checks a request signed with a relay key (a party's or a data plane's): the certificate the
 * kid (its x5t#S256) named in the registry, if any, is within its validity, and the signature,
 * endpoint binding and iat verify. The jti is burnt by withRequestNonce, in the request's own
 * write batch. The caller checks what the signer may do (revocation and so on).
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
  return {
    signer: signer.record,
    payload: await verifySignedRequest(jws, await signer.key(), method, path, now),
  };
}

/**
 * Runs the writes of a verified signed request with its jti recorded in the same batch
 * (`write` puts `nonce` in it), so accepting a request costs no round trip of its own and a
 * replay fails the whole batch: nothing it would have written is kept. A request `write`
 * refuses (a FlockError) burns its jti too, and a replay is told so first, as if the jti had
 * been claimed before any other check. Anything else (D1 failing) burns nothing: the same
 * request may be sent again.
 */
export async function withRequestNonce<R>(
  db: D1Database,
  kid: string,
  payload: SignedRequestPayload<unknown>,
  now: number,
  write: (nonce: D1PreparedStatement[]) => Promise<R>,
): Promise<R> {
  const expiresAt = payload.iat + REQUEST_MAX_SKEW_SECONDS;
  try {
    return await write(recordRequestNonce(db, kid, payload.jti, expiresAt, now));
  } catch (error) {
    if (isReplayedNonce(error)) throw new FlockError("REQUEST_REPLAYED");
    if (!(error instanceof FlockError)) throw error;
    if (!(await claimRequestNonce(db, kid, payload.jti, expiresAt, now))) {
      throw new FlockError("REQUEST_REPLAYED");
    }
    throw error;
  }
}
