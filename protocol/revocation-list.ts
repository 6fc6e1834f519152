import type { CryptoKey as JoseKey, KeyObject } from "jose";
import { CompactSign, compactVerify, decodeProtectedHeader } from "jose";
import { fromBase64Url } from "./encoding.ts";
import { FlockError } from "./errors.ts";
import { isValidName } from "./names.ts";
import { SIGNED_REQUEST_ALGS, type SignedRequestAlg } from "./signed-request.ts";

/**
 * A user's revocation list: the names of its revoked parties, signed with the user CA's key,
 * which only the user's CLI holds. The worker stores the list and serves it as it came, so it
 * can withhold a list but never forge or edit one; the SDK checks its peer against it in every
 * mode, so a relay holding a revoked party's keys cannot get that party accepted
 * (docs/sdk.md, "Revocation"). A compact JWS:
 *   header  {alg: ES256|RS256, typ: REVOCATION_LIST_TYPE}
 *   payload {user, seq, iat, parties}
 * `seq` only grows: the worker refuses a list whose seq is not above the one it holds, and the
 * SDK never trades a list for an older one. A party name is never registered twice for a user,
 * so a name on the list refuses every certificate that party ever had.
 */
export const REVOCATION_LIST_TYPE = "flock-revocations+jwt";

/**
 * The largest list the worker stores and the SDK reads, as JWS text: it fits the worker's
 * 16 KiB JSON bodies with room for `{"list": ...}`, and holds about 600 names of 16 characters.
 */
export const MAX_REVOCATION_LIST_BYTES = 15 * 1024;

export interface RevocationList {
  user: string;
  /** Version: each publication is one above the list it replaces. */
  seq: number;
  /** Unix seconds, when the CLI signed it. */
  iat: number;
  /** Revoked party names, sorted, each once. */
  parties: string[];
}

export async function signRevocationList(
  key: JoseKey | KeyObject,
  alg: SignedRequestAlg,
  list: RevocationList,
): Promise<string> {
  const payload: RevocationList = {
    user: list.user,
    seq: list.seq,
    iat: list.iat,
    parties: [...new Set(list.parties)].sort(),
  };
  checkShape(payload);
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg, typ: REVOCATION_LIST_TYPE })
    .sign(key);
  if (jws.length > MAX_REVOCATION_LIST_BYTES) {
    throw new FlockError(
      "BAD_REQUEST",
      `A revocation list of ${payload.parties.length} parties is ${jws.length} bytes, over the ${MAX_REVOCATION_LIST_BYTES} a list may have.`,
    );
  }
  return jws;
}

/**
 * The list's header and claims, checked for shape and size but NOT for the signature: what
 * the worker, which never holds the user CA, can check before it stores a list.
 */
export function readRevocationList(jws: string, user: string): RevocationList {
  if (typeof jws !== "string" || jws.length > MAX_REVOCATION_LIST_BYTES) {
    throw invalid(`is not a string of at most ${MAX_REVOCATION_LIST_BYTES} bytes`);
  }
  let list: unknown;
  try {
    checkHeader(decodeProtectedHeader(jws));
    list = JSON.parse(new TextDecoder().decode(fromBase64Url(jws.split(".")[1] ?? "")));
  } catch (error) {
    if (error instanceof FlockError) throw error;
    throw invalid("is not a compact JWS with a JSON payload");
  }
  checkShape(list);
  if (list.user !== user) throw invalid(`is the list of user ${list.user}, not of ${user}`);
  return list;
}

/** A list whose signature verifies with the user CA's public key and that belongs to `user`. */
export async function verifyRevocationList(
  jws: string,
  userCaKey: JoseKey | KeyObject,
  user: string,
): Promise<RevocationList> {
  const list = readRevocationList(jws, user);
  try {
    await compactVerify(jws, userCaKey, { algorithms: [...SIGNED_REQUEST_ALGS] });
  } catch {
    throw new FlockError("BAD_SIGNATURE", `The revocation list of ${user} is not signed by its user CA.`);
  }
  return list;
}

function invalid(problem: string): FlockError {
  return new FlockError("BAD_REQUEST", `The revocation list ${problem}.`);
}

function checkHeader(header: { alg?: unknown; typ?: unknown }): void {
  if (header.typ !== REVOCATION_LIST_TYPE)
    throw invalid(`has typ ${String(header.typ)}, not ${REVOCATION_LIST_TYPE}`);
  if (!SIGNED_REQUEST_ALGS.includes(header.alg as SignedRequestAlg)) {
    throw invalid(`is signed with ${String(header.alg)}, not ${SIGNED_REQUEST_ALGS.join(" or ")}`);
  }
}

function checkShape(value: unknown): asserts value is RevocationList {
  const list = value as Partial<RevocationList> | null;
  if (typeof list !== "object" || list === null) throw invalid("payload is not a JSON object");
  if (!isValidName(list.user)) throw invalid("names no valid user");
  if (!Number.isSafeInteger(list.seq) || (list.seq as number) < 1) throw invalid("has no seq of 1 or more");
  if (!Number.isSafeInteger(list.iat) || (list.iat as number) < 0)
    throw invalid("has no iat in unix seconds");
  const parties = list.parties;
  if (!Array.isArray(parties) || !parties.every(isValidName)) throw invalid("parties are not party names");
  for (let i = 1; i < parties.length; i++) {
    if ((parties[i - 1] as string) >= (parties[i] as string))
      throw invalid("parties are not sorted and unique");
  }
}
