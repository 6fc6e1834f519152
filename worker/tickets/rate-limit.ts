/**
 * Ticket issuance is limited per party by a token bucket: TICKET_BURST tickets at once, then
 * TICKETS_PER_SECOND. Every ticket writes an audit row kept for 30 days, so a party that asks
 * without end would fill D1. The bucket lives in D1 (db/ticket-buckets.ts), not in the
 * isolate: Cloudflare runs many isolates, so a per-isolate bucket would let a party through
 * once per isolate. It costs no round trip of its own: its state is read in the request's
 * read batch (to refuse early, with an exact Retry-After), and the take is a statement of the
 * ticket's write batch that fails the batch when the bucket is empty, so two isolates racing
 * for the last token cannot both win.
 */
import { FlockError } from "../../protocol/errors.ts";
import type { TicketBucketRow } from "../db/ticket-buckets.ts";

export const DEFAULT_TICKETS_PER_SECOND = 10;
export const DEFAULT_TICKET_BURST = 100;

export interface TicketRateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: the most tickets a party gets at once. */
  burst: number;
}

/** Worker vars (wrangler.toml [vars]) arrive as strings or, written as TOML numbers, as numbers. */
type VarValue = string | number | undefined;

/** The limit from the TICKETS_PER_SECOND and TICKET_BURST vars; a var that is set but not a positive number is a deploy error. */
export function ticketRateLimitOf(vars: {
  TICKETS_PER_SECOND?: VarValue;
  TICKET_BURST?: VarValue;
}): TicketRateLimit {
  return {
    perSecond: positiveVar("TICKETS_PER_SECOND", vars.TICKETS_PER_SECOND, DEFAULT_TICKETS_PER_SECOND),
    burst: positiveVar("TICKET_BURST", vars.TICKET_BURST, DEFAULT_TICKET_BURST),
  };
}

function positiveVar(name: string, value: VarValue, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`${name} must be a positive number, not ${String(value)}`);
  return n;
}

/** Tokens the bucket holds at `now` (a party that never asked has a full one). */
export function availableTickets(
  bucket: TicketBucketRow | undefined,
  limit: TicketRateLimit,
  now: number,
): number {
  if (!bucket) return limit.burst;
  return Math.min(limit.burst, bucket.tokens + Math.max(0, now - bucket.updated_at) * limit.perSecond);
}

/** Refuses `count` tickets the bucket cannot give, saying when it will hold them. */
export function assertTicketsAvailable(
  bucket: TicketBucketRow | undefined,
  limit: TicketRateLimit,
  count: number,
  now: number,
): void {
  assertWithinBurst(limit, count);
  const available = availableTickets(bucket, limit, now);
  if (available >= count) return;
  throw rateLimited((count - available) / limit.perSecond);
}

/** A request for more tickets than the bucket holds when full could never be served. */
export function assertWithinBurst(limit: TicketRateLimit, count: number): void {
  if (count > limit.burst) {
    throw new FlockError(
      "RATE_LIMITED",
      `One request may ask for at most ${limit.burst} tickets (TICKET_BURST).`,
    );
  }
}

/** The refusal when the write batch found the bucket empty after all (another isolate took the last tokens). */
export function bucketEmptied(limit: TicketRateLimit, count: number): FlockError {
  return rateLimited(count / limit.perSecond);
}

function rateLimited(retryAfterSeconds: number): FlockError {
  // Tokens arrive at whole seconds (D1 stores seconds), so the wait is rounded up.
  return new FlockError("RATE_LIMITED", undefined, {
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
  });
}
