import {
  MAX_TICKETS_PER_REQUEST,
  MAX_UNREACHABLE_RELAYS,
  type TicketRequestBody,
  type TicketsRequestBody,
} from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { assertName, CHANNEL_PATTERN } from "../../protocol/names.ts";

/** Validates the body a party signed into its ticket request: one `dest`, or several `dests`. */
export function parseTicketRequestBody(value: unknown): TicketRequestBody | TicketsRequestBody {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FlockError(
      "BAD_REQUEST",
      "The signed body must be an object {dest, channel?} or {dests, channel?}.",
    );
  }
  const body = value as Record<string, unknown>;
  const channel = parseChannel(body.channel);
  const unreachable = parseUnreachable(body.unreachable);
  const withOptions = <T extends object>(b: T) => ({
    ...b,
    ...(channel === undefined ? {} : { channel }),
    ...(unreachable === undefined ? {} : { unreachable }),
  });
  if (body.dests === undefined) return withOptions({ dest: assertName(body.dest, "destination party") });
  if (body.dest !== undefined) throw new FlockError("BAD_REQUEST", "Give dest or dests, not both.");
  if (!Array.isArray(body.dests) || body.dests.length === 0 || body.dests.length > MAX_TICKETS_PER_REQUEST) {
    throw new FlockError(
      "BAD_REQUEST",
      `dests must list 1 to ${MAX_TICKETS_PER_REQUEST} destination parties.`,
    );
  }
  const dests = body.dests.map((dest) => assertName(dest, "destination party"));
  if (new Set(dests).size !== dests.length) throw new FlockError("BAD_REQUEST", "dests names a party twice.");
  return withOptions({ dests });
}

export function parseChannel(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !CHANNEL_PATTERN.test(value)) {
    throw new FlockError(
      "BAD_REQUEST",
      "channel must be 1-64 characters of letters, digits, '.', '-' and '_'.",
    );
  }
  return value;
}

function parseUnreachable(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_UNREACHABLE_RELAYS) {
    throw new FlockError(
      "BAD_REQUEST",
      `unreachable must list at most ${MAX_UNREACHABLE_RELAYS} relay names.`,
    );
  }
  return value.map((name) => assertName(name, "unreachable relay"));
}

/** The destinations a parsed body names, in its order. */
export function destsOf(body: TicketRequestBody | TicketsRequestBody): string[] {
  return "dests" in body ? body.dests : [body.dest];
}

/**
 * The destination names an unverified body claims, for reading ahead before the signature is
 * checked: whatever strings it holds, at most MAX_TICKETS_PER_REQUEST of them. Nothing read
 * with them is used unless the verified body names the same ones.
 */
export function claimedDests(value: unknown): string[] {
  const body = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const names = Array.isArray(body.dests) ? body.dests : [body.dest];
  return names.filter((n): n is string => typeof n === "string").slice(0, MAX_TICKETS_PER_REQUEST);
}
