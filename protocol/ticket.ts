import { sha256, toBase64Url } from "./encoding.ts";

/** Ticket lifetime: long enough to dial after a cold start, short enough that a leaked one soon dies. */
export const TICKET_TTL_SECONDS = 300;
/** Signed ticket requests older or newer than this are refused (clock skew allowance). */
export const REQUEST_MAX_SKEW_SECONDS = 120;
export const TICKET_ISSUER = "flock";
export const TICKET_TYPE = "flock-ticket+jwt";
export const TICKET_ALG = "EdDSA";

/**
 * End-to-end TLS needs one side to act as TLS client and the other as server. Both sides
 * derive it the same way from the two party names, so no coordination is needed.
 */
export type Role = "client" | "server";

export interface TicketClaims {
  iss: typeof TICKET_ISSUER;
  /** The data plane (relay name) that must accept this ticket. */
  aud: string;
  /** `user/party` of the holder. */
  sub: string;
  /** `user/party` of the peer it may pair with. */
  peer: string;
  /** Same for both sides of a pair. */
  pair: string;
  chn: string;
  role: Role;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  /** RFC 7800 confirmation: the holder must prove it holds the key of this relay certificate. */
  cnf: { "x5t#S256": string };
}

export function partyRef(user: string, party: string): string {
  return `${user}/${party}`;
}

export function splitPartyRef(ref: string): { user: string; party: string } | undefined {
  const [user, party, ...rest] = ref.split("/");
  if (!user || !party || rest.length > 0) return undefined;
  return { user, party };
}

export function roleFor(self: string, peer: string): Role {
  return self < peer ? "client" : "server";
}

/**
 * Both parties compute the same pair id without talking to each other: it names the
 * user, the unordered pair of parties and the channel, nothing secret.
 */
export async function pairId(user: string, a: string, b: string, channel: string): Promise<string> {
  return pairIdOfDigest(await sha256(pairIdInput(user, a, b, channel)));
}

/** What a pair id is the SHA-256 of: the user, both parties in a fixed order, the channel. */
export function pairIdInput(user: string, a: string, b: string, channel: string): string {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return `flock-pair-v1\0${user}\0${lo}\0${hi}\0${channel}`;
}

/** The pair id of pairIdInput's SHA-256, for a caller that hashes it itself (synchronously, in Node). */
export function pairIdOfDigest(digest: Uint8Array): string {
  return toBase64Url(digest).slice(0, 32);
}
