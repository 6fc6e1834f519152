import { X509Certificate } from "node:crypto";
import { FlockError } from "../protocol/errors.ts";
import {
  MAX_REVOCATION_LIST_BYTES,
  type RevocationList,
  verifyRevocationList,
} from "../protocol/revocation-list.ts";
import { revocationListPath } from "../protocol/wire.ts";
import { requestText } from "./http-text.ts";
import type { PartyConfig } from "./identity.ts";
import { errorFromResponse } from "./ticket-client.ts";

/**
 * A verified list is used this long before the SDK asks the worker again: a revocation
 * reaches a running function at most this long after `flock revoke party` published it.
 */
export const REVOCATION_LIST_MAX_AGE_MS = 60_000;
/** One list request; the fetch runs beside the ticket request and the dial, so this rarely adds time. */
export const REVOCATION_REQUEST_TIMEOUT_MS = 5_000;
/** Users whose lists a process keeps; past it the oldest is dropped. A function uses one or two identities. */
export const MAX_CACHED_REVOCATION_LISTS = 32;

/** What a connection is checked against. */
export interface Revocations {
  /** Names of the user's revoked parties, from the newest list this process verified. */
  revoked: ReadonlySet<string>;
  /** Set when no fresh list could be had: the newest one known is used, or none. */
  problem?: FlockError;
  /** When the list in use was fetched (ms since the epoch); absent when there is none. */
  fetchedAt?: number;
}

interface Known {
  list: RevocationList | undefined;
  revoked: ReadonlySet<string>;
  fetchedAt: number;
}

interface Entry {
  known?: Known;
  /** The fetch in flight, shared by every connection that asks meanwhile. */
  pending?: Promise<Revocations>;
}

const entries = new Map<string, Entry>();
const NONE: ReadonlySet<string> = new Set();

/**
 * The user's revoked parties. Never rejects: when the worker cannot be reached or serves a
 * list that does not verify, the newest list verified before is used (a list only grows, so
 * an older one still refuses every party it names), or none at all; `problem` says so. A
 * relay alone cannot cause that: the list comes from FLOCK_URL, not through the relay.
 */
export function revocationsOf(identity: Pick<PartyConfig, "url" | "user" | "userCa">): Promise<Revocations> {
  const key = `${identity.url}\n${identity.user}\n${identity.userCa}`;
  let entry = entries.get(key);
  if (entry === undefined) {
    if (entries.size >= MAX_CACHED_REVOCATION_LISTS) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    entry = {};
    entries.set(key, entry);
  }
  const { known } = entry;
  if (known && Date.now() - known.fetchedAt < REVOCATION_LIST_MAX_AGE_MS) {
    return Promise.resolve({ revoked: known.revoked, fetchedAt: known.fetchedAt });
  }
  const current = entry;
  current.pending ??= refresh(identity, current).finally(() => {
    current.pending = undefined;
  });
  return current.pending;
}

async function refresh(
  identity: Pick<PartyConfig, "url" | "user" | "userCa">,
  entry: Entry,
): Promise<Revocations> {
  const previous = entry.known;
  try {
    const list = await fetchList(identity);
    // A list older than one already verified would un-revoke parties: keep the newer one.
    const kept = previous?.list && (!list || list.seq < previous.list.seq) ? previous.list : list;
    entry.known = { list: kept, revoked: kept ? new Set(kept.parties) : NONE, fetchedAt: Date.now() };
    return { revoked: entry.known.revoked, fetchedAt: entry.known.fetchedAt };
  } catch (error) {
    const problem =
      error instanceof FlockError
        ? error
        : new FlockError("DIAL_FAILED", `The revocation list could not be fetched: ${String(error)}.`);
    return previous
      ? { revoked: previous.revoked, fetchedAt: previous.fetchedAt, problem }
      : { revoked: NONE, problem };
  }
}

async function fetchList(
  identity: Pick<PartyConfig, "url" | "user" | "userCa">,
): Promise<RevocationList | undefined> {
  const url = new URL(revocationListPath(identity.user), identity.url);
  let status: number;
  let text: string;
  try {
    ({ status, text } = await requestText(url, {
      method: "GET",
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(REVOCATION_REQUEST_TIMEOUT_MS),
      // The list plus its JSON wrapping.
      maxBytes: MAX_REVOCATION_LIST_BYTES + 1024,
    }));
  } catch (error) {
    throw new FlockError(
      "DIAL_FAILED",
      `Could not fetch the revocation list from ${url.origin}: ${(error as Error).message}.`,
      { cause: error },
    );
  }
  if (status < 200 || status > 299) throw errorFromResponse(status, text);
  let list: unknown;
  try {
    list = (JSON.parse(text) as { list?: unknown }).list;
  } catch {
    list = undefined;
  }
  if (list === null) return undefined;
  if (typeof list !== "string") {
    throw new FlockError(
      "INTERNAL",
      `The control plane at ${url.origin} answered a revocation list of an unknown shape.`,
    );
  }
  return verifyRevocationList(list, new X509Certificate(identity.userCa).publicKey, identity.user);
}
