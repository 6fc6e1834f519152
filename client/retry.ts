import type { ErrorCode } from "../protocol/errors.ts";

/**
 * Failures a fresh ticket and another dial can cure: the data plane or the peer is not there
 * yet (cold starts), is restarting, or is full. Everything else (an unknown or revoked party,
 * a bad configuration, a peer with the wrong certificate) would fail the same way again, so
 * it is raised at once instead of spending the whole deadline on it.
 */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "DIAL_FAILED",
  "NO_RELAY_AVAILABLE",
  "RATE_LIMITED",
  "DATABASE_UNAVAILABLE",
  "INTERNAL",
  "REQUEST_REPLAYED",
  "HELLO_TIMEOUT",
  "TICKET_INVALID",
  "TICKET_EXPIRED",
  "TICKET_WRONG_AUDIENCE",
  "TICKET_REPLAYED",
  "TICKET_UNKNOWN_KEY",
  "PEER_TIMEOUT",
  "PEER_CLOSED",
  "PEER_SILENT",
  "PAIR_MOVED",
  "DRAINING",
  "OVER_CAPACITY",
  "REVOCATIONS_UNKNOWN",
]);

export function isRetryable(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

export const BACKOFF_INITIAL_MS = 100;
export const BACKOFF_MAX_MS = 5_000;

/** Exponential backoff with jitter (half fixed, half random) so restarted fleets do not dial in step. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
