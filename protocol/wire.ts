/**
 * Paths and defaults that more than one package relies on. The POST paths are signed into
 * requests (the JWS `htu`), so the signer and the verifier must read the same constant: a
 * drift would break every signature.
 */

/** POST: a party asks for a ticket (signed with its relay key). */
export const TICKETS_PATH = "/v1/tickets";
/** POST: a data plane reports its load (signed with its server certificate's key). */
export const RELAY_REPORT_PATH = "/v1/relays/report";
/**
 * POST: a party asks which data plane the worker assigns its pair with a peer to (signed with
 * its relay key, like a ticket request), without getting a ticket.
 */
export const PAIR_RELAY_PATH = "/v1/pairs/relay";

/**
 * The SDK sends at most this many bytes per WebSocket message: the TLS layer above hands
 * over whatever it has encrypted (a 1 MB write becomes one 1 MB buffer), and a data plane
 * caps one message (a little above this) because `ws` buffers each message whole.
 */
export const WS_MAX_MESSAGE_BYTES = 64 * 1024;

/** The one port a data plane serves tcp, tls, ws and wss on, unless told otherwise. */
export const DEFAULT_RELAY_PORT = 6000;

/**
 * How long one side of a pair waits at the data plane for the other: functions cold start
 * at different times. The worker keeps a pair's relay assignment at least this long.
 */
export const PAIRING_TIMEOUT_MS = 60_000;

/**
 * Whether a URL host name is this machine. Plain http to the worker is accepted only there
 * (or behind an explicit opt-out): tickets, ticket keys and revocation lists come from it.
 * `URL.hostname` keeps IPv6 brackets.
 */
export function isLoopbackHostname(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * GET (anyone): a user's revocation list as its CLI signed it; PUT (admin): publish a new one.
 * The list is public: it names revoked parties, nothing else, and is signed by the user CA.
 */
export function revocationListPath(user: string): string {
  return `/v1/users/${encodeURIComponent(user)}/revocations`;
}
