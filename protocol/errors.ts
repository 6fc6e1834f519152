/**
 * Every error Flock puts on the wire, in one table: a stable code, the HTTP status the
 * worker answers with, and one human sentence. The data plane sends the same codes in
 * ERROR frames and the client SDK raises them as FlockError. docs/errors.md lists
 * this table; a test keeps the two in step.
 */
export const ERRORS = {
  // Generic request errors (worker)
  BAD_REQUEST: [400, "The request is malformed."],
  INVALID_NAME: [
    400,
    "Names are 1-64 characters of letters, digits, '-' and '_', starting with a letter or digit.",
  ],
  BODY_TOO_LARGE: [413, "The request body is larger than this endpoint accepts."],
  UNAUTHENTICATED: [401, "The request carries no valid credentials."],
  FORBIDDEN: [403, "These credentials may not do this."],
  NOT_FOUND: [404, "No such resource."],
  METHOD_NOT_ALLOWED: [405, "This resource does not accept that method."],
  INTERNAL: [500, "The server failed; the request id in the logs says where."],
  DATABASE_UNAVAILABLE: [
    503,
    "The control plane's database did not answer; nothing was written, retry shortly.",
  ],

  // Registry
  USER_NOT_FOUND: [404, "No user of that name."],
  PARTY_NOT_FOUND: [404, "No party of that name for this user."],
  RELAY_NOT_FOUND: [404, "No relay of that name."],
  USER_EXISTS: [409, "A user of that name already exists."],
  PARTY_EXISTS: [409, "This user already has a party of that name."],
  RELAY_EXISTS: [409, "A relay of that name already exists."],
  BAD_CSR: [400, "The certificate signing request could not be parsed or its signature does not verify."],
  CSR_SUBJECT_MISMATCH: [403, "The certificate signing request names a different user, party or relay."],
  PARTY_REVOKED: [403, "This party has been revoked."],
  RELAY_REVOKED: [403, "This relay has been revoked."],
  BACKEND_NOT_FOUND: [404, "No OpenWhisk backend of that name."],
  BACKEND_EXISTS: [409, "An OpenWhisk backend of that name already exists."],
  WSK_KEY_NOT_FOUND: [404, "No wsk key with that uuid for this user."],
  REVOCATION_LIST_STALE: [
    409,
    "The worker already holds a revocation list of this user with the same or a higher seq.",
  ],
  BACKEND_ADDRESS_PRIVATE: [
    400,
    "The backend's apihost is a loopback, link-local or private address; allow it explicitly if that is intended.",
  ],

  // Ticket requests
  BAD_SIGNATURE: [401, "The request signature does not verify against a registered relay certificate."],
  REQUEST_EXPIRED: [401, "The signed request is too old or from the future; check the clock."],
  REQUEST_REPLAYED: [401, "This signed request was already used."],
  UNKNOWN_DEST: [404, "The destination party does not exist for this user."],
  DEST_REVOKED: [403, "The destination party has been revoked."],
  SAME_PARTY: [400, "A party cannot open a channel to itself."],
  RATE_LIMITED: [429, "This party asks for tickets faster than allowed; retry after Retry-After seconds."],
  PAIR_LOOKUP_LIMITED: [
    429,
    "This party asks which data plane holds its pairs faster than allowed; retry after Retry-After seconds.",
  ],
  NO_RELAY_AVAILABLE: [503, "No data plane has reported recently; start one with `flock relay start`."],

  // Data plane handshake and pairing
  BAD_MAGIC: [400, "The connection did not start with a Flock hello; is this the right port and transport?"],
  BAD_FRAME: [400, "A handshake frame is not valid JSON of the expected shape."],
  UNSUPPORTED_VERSION: [400, "This protocol version is not supported by the data plane."],
  HELLO_TOO_LARGE: [413, "The hello frame is larger than the data plane accepts."],
  HELLO_TIMEOUT: [408, "No complete hello arrived within the handshake deadline."],
  TICKET_INVALID: [401, "The ticket is malformed or its signature does not verify."],
  TICKET_EXPIRED: [401, "The ticket has expired; fetch a new one."],
  TICKET_WRONG_AUDIENCE: [401, "The ticket was issued for a different data plane."],
  TICKET_REPLAYED: [401, "This ticket was already used."],
  TICKET_UNKNOWN_KEY: [401, "The ticket is signed by a key the data plane does not know."],
  PROOF_MISSING: [401, "The ticket is bound to a key, and no proof of holding it was given."],
  PROOF_INVALID: [401, "The proof does not match the key the ticket is bound to."],
  CERT_INVALID: [
    401,
    "The relay certificate is not signed by the relay CA or is out of its validity period.",
  ],
  CROSS_USER: [403, "Parties of different users never pair."],
  PEER_TIMEOUT: [504, "The peer did not arrive within the pairing timeout."],
  REPLACED: [409, "A newer connection for the same side of this pair replaced this one."],
  DRAINING: [503, "The data plane is shutting down and takes no new pairs."],
  REVOCATIONS_UNKNOWN: [
    503,
    "The data plane has not yet learned revocations from the worker; retry shortly.",
  ],
  OVER_CAPACITY: [503, "The data plane is at capacity."],
  EARLY_DATA: [400, "The party sent bytes before the data plane told it that it was paired."],
  IDLE_TIMEOUT: [408, "The pair was idle longer than the idle timeout."],
  PEER_CLOSED: [502, "The peer closed the connection."],

  // End-to-end channel (client SDK)
  PEER_IDENTITY_MISMATCH: [
    403,
    "The peer's end-to-end certificate does not name the expected user and party.",
  ],
  DIAL_FAILED: [502, "Could not reach the data plane."],
  CONNECT_TIMEOUT: [504, "No end-to-end channel could be set up within the connect deadline."],
  PEER_SILENT: [
    504,
    "Nothing came from the peer for the setup silence bound while the end-to-end channel was set up: the relay or the path stalled, so the attempt was dropped.",
  ],
  PAIR_MOVED: [
    409,
    "While this side waited for its peer, the worker moved the pair to another data plane; the next attempt goes there.",
  ],
  CONFIG_INVALID: [400, "The party configuration is incomplete or malformed."],

  // End-to-end stream, SDK wire version 2 (docs/stream.md)
  STREAM_TRUNCATED: [
    502,
    "The stream broke before its end-of-stream frame and was not resumed: a relay or the network cut it, or the peer crashed.",
  ],
  STREAM_ABORTED: [502, "The peer gave the stream up with an error."],
  BAD_STREAM_FRAME: [502, "The peer sent a stream frame that is malformed, out of order or too large."],
  CHANNEL_MISMATCH: [
    403,
    "The peer opened a different pair or channel: the relay joined two channels that do not belong together.",
  ],
  SESSION_MISMATCH: [403, "The peer could not prove it holds the session being resumed."],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERRORS, value);
}

export function errorStatus(code: ErrorCode): number {
  return ERRORS[code][0];
}

export function errorMessage(code: ErrorCode): string {
  return ERRORS[code][1];
}

/** The JSON body of every worker error and every data plane ERROR frame. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

export interface FlockErrorOptions {
  cause?: unknown;
  /** When a retry can succeed: the worker sends it as Retry-After (RFC 9110 §10.2.3). */
  retryAfterSeconds?: number;
}

/** An error as a value with a stable code; `detail` replaces the default sentence when it says more. */
export class FlockError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterSeconds: number | undefined;
  constructor(code: ErrorCode, detail?: string, options?: FlockErrorOptions) {
    super(detail ?? errorMessage(code), options);
    this.name = "FlockError";
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  get status(): number {
    return errorStatus(this.code);
  }

  toBody(): ErrorBody {
    return { error: this.message, code: this.code };
  }
}
