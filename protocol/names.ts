import { FlockError } from "./errors.ts";

/** The longest user, party or relay name, in characters. */
export const MAX_NAME_LENGTH = 64;
/**
 * User, party and relay names end up in certificate subjects, SAN URIs, file paths
 * (certs/<user>/<party>/) and ticket claims, so they are kept to a set that is safe in
 * all of them: no '/', no '.', no ':' (the SAN URI separator), no whitespace.
 */
export const NAME_PATTERN = new RegExp(`^[A-Za-z0-9][A-Za-z0-9_-]{0,${MAX_NAME_LENGTH - 1}}$`);

export function isValidName(value: unknown): value is string {
  return typeof value === "string" && NAME_PATTERN.test(value);
}

export function assertName(value: unknown, what: string): string {
  if (!isValidName(value)) {
    throw new FlockError(
      "INVALID_NAME",
      `Invalid ${what} name: names are 1-${MAX_NAME_LENGTH} characters of letters, digits, '-' and '_'.`,
    );
  }
  return value;
}

/** Channels are optional free labels that separate several pairs between the same two parties. */
export const CHANNEL_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const DEFAULT_CHANNEL = "default";

/** SAN URI carried by a party's relay certificate and by its end-to-end party certificate. */
export function partyUri(user: string, party: string): string {
  return `urn:flock:party:${user}:${party}`;
}

/** SAN URI carried by a data plane's server certificate. */
export function relayUri(relay: string): string {
  return `urn:flock:relay:${relay}`;
}

export function parsePartyUri(uri: string): { user: string; party: string } | undefined {
  const m = /^urn:flock:party:([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/.exec(uri);
  if (!m || !isValidName(m[1]) || !isValidName(m[2])) return undefined;
  return { user: m[1], party: m[2] };
}

export function parseRelayUri(uri: string): string | undefined {
  const m = /^urn:flock:relay:([A-Za-z0-9_-]+)$/.exec(uri);
  return m && isValidName(m[1]) ? m[1] : undefined;
}
