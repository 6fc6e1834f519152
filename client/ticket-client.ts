import type { KeyObject } from "node:crypto";
import { sign } from "node:crypto";
import type {
  PairRelayRequestBody,
  PairRelayResponse,
  TicketRequestBody,
  TicketResponse,
  TicketsRequestBody,
  TicketsResponse,
} from "../protocol/api.ts";
import { FlockError, isErrorCode } from "../protocol/errors.ts";
import type { SignedRequestAlg } from "../protocol/signed-request.ts";
import { SIGNED_REQUEST_CONTENT_TYPE, signedRequestParts } from "../protocol/signed-request.ts";
import { PAIR_RELAY_PATH, TICKETS_PATH } from "../protocol/wire.ts";
import { requestText, type TextResponse } from "./http-text.ts";
import type { PartyConfig } from "./identity.ts";
import { relayKeyMaterial } from "./relay-key-material.ts";

/** One ticket request; the worker answers in milliseconds, so this only bounds a hung connection. */
export const TICKET_REQUEST_TIMEOUT_MS = 10_000;

/** What a ticket request needs of a party: where the worker is, and the relay key that signs. */
export type TicketSigner = Pick<PartyConfig, "url" | "relayCert" | "relayKey">;

/**
 * Asks the worker for a ticket to `dest`. The request is a JWS signed with the party's
 * relay key, so the worker needs no shared secret with the function.
 */
export async function fetchTicket(
  identity: TicketSigner,
  request: TicketRequestBody,
  signal?: AbortSignal,
  timeoutMs: number = TICKET_REQUEST_TIMEOUT_MS,
): Promise<TicketResponse> {
  const { answer, origin } = await postSignedRequest(identity, TICKETS_PATH, request, signal, timeoutMs);
  if (!isTicketResponse(answer)) throw unknownShape(origin, "a ticket");
  return answer;
}

/**
 * Asks for tickets to several peers in one request (one signature for the worker to check,
 * two D1 round trips however many peers): an MPC party's N−1 tickets. All or none; the
 * answer holds one ticket per dest, in the order given.
 */
export async function fetchTickets(
  identity: TicketSigner,
  request: TicketsRequestBody,
  signal?: AbortSignal,
  timeoutMs: number = TICKET_REQUEST_TIMEOUT_MS,
): Promise<TicketResponse[]> {
  const { answer, origin } = await postSignedRequest(identity, TICKETS_PATH, request, signal, timeoutMs);
  const tickets = (answer as Partial<TicketsResponse> | undefined)?.tickets;
  if (
    !Array.isArray(tickets) ||
    tickets.length !== request.dests.length ||
    !tickets.every(isTicketResponse)
  ) {
    throw unknownShape(origin, "tickets");
  }
  return tickets;
}

/**
 * Which data plane the worker assigns this party's pair with `dest` to (null: none), without a
 * ticket: what a side waiting for its peer asks to learn that the pair moved.
 */
export async function fetchPairRelay(
  identity: TicketSigner,
  request: PairRelayRequestBody,
  signal?: AbortSignal,
  timeoutMs: number = TICKET_REQUEST_TIMEOUT_MS,
): Promise<string | null> {
  const { answer, origin } = await postSignedRequest(identity, PAIR_RELAY_PATH, request, signal, timeoutMs);
  const { pair, relay } = (answer ?? {}) as Partial<PairRelayResponse>;
  if (typeof pair !== "string" || (relay !== null && typeof relay !== "string")) {
    throw unknownShape(origin, "a pair's data plane");
  }
  return relay;
}

function unknownShape(origin: string, what: string): FlockError {
  return new FlockError("INTERNAL", `The control plane at ${origin} answered ${what} of an unknown shape.`);
}

/** Signs `request` for `path` and sends it; answers the parsed JSON of a 2xx answer, raises any other. */
async function postSignedRequest(
  identity: TicketSigner,
  path: string,
  request: unknown,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<{ answer: unknown; origin: string }> {
  const { key, kid: kidPromise } = relayKeyMaterial(identity);
  const body = signRequestNow(key, await kidPromise, path, request);
  const url = new URL(path, identity.url);
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: TextResponse;
  try {
    response = await requestText(url, {
      method: "POST",
      headers: { "content-type": SIGNED_REQUEST_CONTENT_TYPE, accept: "application/json" },
      body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (error) {
    const why = timeout.aborted ? `: no answer within ${timeoutMs} ms` : "";
    throw new FlockError("DIAL_FAILED", `Could not reach the Flock control plane at ${url.origin}${why}.`, {
      cause: error,
    });
  }
  const { status, text } = response;
  if (status < 200 || status > 299) throw errorFromResponse(status, text);
  return { answer: parseJson(text), origin: url.origin };
}

const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * A POST signed as signRequest signs it (protocol/signed-request.ts), by node:crypto in this
 * tick: WebCrypto's signature is a thread-pool job, and on a loaded machine its answer came
 * back a millisecond or more later, on the way of every ticket.
 */
function signRequestNow(key: KeyObject, kid: string, path: string, body: unknown): string {
  const { header, payload } = signedRequestParts(signingAlg(key.asymmetricKeyType), kid, "POST", path, body);
  const input = `${segment(header)}.${segment(payload)}`;
  // JWS ES256 is the raw r || s (RFC 7518 section 3.4), not DER; RS256 is PKCS #1 v1.5, Node's default.
  const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}

function signingAlg(keyType: string | undefined): SignedRequestAlg {
  if (keyType === "ec") return "ES256";
  if (keyType === "rsa") return "RS256";
  throw new FlockError("CONFIG_INVALID", `The relay key is of type ${keyType}; Flock uses EC P-256 or RSA.`);
}

/** Worker errors are `{error, code}`; anything else (a proxy's HTML page) keeps its status in the message. */
export function errorFromResponse(status: number, text: string): FlockError {
  const body = parseJson(text) as { error?: unknown; code?: unknown } | undefined;
  if (body && isErrorCode(body.code)) {
    return new FlockError(body.code, typeof body.error === "string" ? body.error : undefined);
  }
  return new FlockError("INTERNAL", `The control plane answered HTTP ${status} without a Flock error body.`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isTicketResponse(value: unknown): value is TicketResponse {
  if (typeof value !== "object" || value === null) return false;
  const t = value as Partial<TicketResponse>;
  return (
    typeof t.ticket === "string" &&
    (t.role === "client" || t.role === "server") &&
    typeof t.peer === "string" &&
    typeof t.relay === "object" &&
    t.relay !== null &&
    typeof t.relay.name === "string" &&
    Array.isArray(t.relay.hosts) &&
    t.relay.hosts.every((h) => typeof h === "string") &&
    t.relay.hosts.length > 0 &&
    Number.isInteger(t.relay.port)
  );
}
