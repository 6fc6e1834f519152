/**
 * Shapes of the worker's JSON API that the CLI, the client SDK and the data plane read.
 * The worker produces them; everyone else consumes them.
 */

export interface Page<T> {
  items: T[];
  /** Opaque; pass back as `?cursor=` for the next page. Absent on the last page. */
  nextCursor?: string;
}

export interface UserInfo {
  name: string;
  createdAt: string;
}

export type PartyStatus = "active" | "revoked";

export interface PartyInfo {
  user: string;
  name: string;
  status: PartyStatus;
  /** x5t#S256 of the relay certificate. */
  fingerprint: string;
  notAfter: string;
  createdAt: string;
  revokedAt?: string;
}

/** `GET /v1/users/:user/revocations`: the list as the user's CLI signed it, null before the first. */
export interface RevocationListResponse {
  list: string | null;
}

/** What the worker read from a list it stored (`PUT /v1/users/:user/revocations` answers `{item}`). */
export interface RevocationListInfo {
  user: string;
  seq: number;
  parties: string[];
  publishedAt: string;
}

export type RelayStatus = "active" | "revoked";

export interface RelayInfo {
  name: string;
  hosts: string[];
  port: number;
  fingerprint: string;
  createdAt: string;
  /** A revoked relay gets no new tickets and its load reports are refused. */
  status: RelayStatus;
  revokedAt?: string;
  lastReportAt?: string;
  load?: RelayLoad;
  /** Active and reported within RELAY_LIVE_SECONDS: gets new tickets. */
  live: boolean;
}

/** A data plane's load: the body inside its signed request to POST /v1/relays/report. */
export interface RelayLoad {
  activePairs: number;
  waitingSides: number;
  bytesPerSecond: number;
  capacity: number;
}

/** One row of the ticket audit: GET /v1/users/:user/tickets, newest first. */
export interface TicketInfo {
  jti: string;
  user: string;
  /** The party the ticket was issued to. */
  party: string;
  dest: string;
  /** The pair id both sides' tickets share (a hash: the channel name is not stored). */
  pair: string;
  relay: string;
  issuedAt: string;
  expiresAt: string;
}

/** POST /v1/users/:user/parties and POST /v1/relays answer this. */
export interface IssuedCertificate<T> {
  item: T;
  /** PEM of the certificate signed by the relay CA. */
  certificate: string;
  relayCa: string;
}

/** Body inside the signed request to POST /v1/tickets. */
export interface TicketRequestBody {
  dest: string;
  channel?: string;
  /**
   * Data planes this party just failed to reach (a crashed one stays "live" for up to
   * RELAY_LIVE_SECONDS): the pair is assigned elsewhere, so both sides meet on another.
   */
  unreachable?: string[];
}

/**
 * The same request for several peers at once (an MPC party's N−1): one signature, one answer
 * `TicketsResponse` with a ticket per dest, in the order given. All of them or none.
 */
export interface TicketsRequestBody {
  dests: string[];
  channel?: string;
  unreachable?: string[];
}

/** Names a ticket request may list as unreachable. */
export const MAX_UNREACHABLE_RELAYS = 4;

/** Peers one ticket request may name; the signed request stays well inside its 8 KiB. */
export const MAX_TICKETS_PER_REQUEST = 64;

export interface TicketResponse {
  ticket: string;
  expiresAt: string;
  pair: string;
  role: "client" | "server";
  peer: string;
  relay: { name: string; hosts: string[]; port: number };
}

export interface TicketsResponse {
  tickets: TicketResponse[];
}

/** The body a party signs into POST PAIR_RELAY_PATH: its pair with `dest` on `channel`. */
export interface PairRelayRequestBody {
  dest: string;
  channel?: string;
}

/** Which data plane the worker assigns the caller's pair to now; `relay` null: none. */
export interface PairRelayResponse {
  pair: string;
  relay: string | null;
}

export interface RelayReportResponse {
  /** Relay certificate fingerprints (x5t#S256) of revoked parties. */
  revokedFingerprints: string[];
  /** Ticket key ids currently published in the JWKS. */
  ticketKids: string[];
  /** Seconds until the next report is expected. */
  reportIntervalSeconds: number;
}

/** A relay that has not reported for this long gets no new tickets. */
export const RELAY_LIVE_SECONDS = 30;
export const RELAY_REPORT_INTERVAL_SECONDS = 10;

/** How the OpenWhisk proxy picks a backend for each invocation of a user's action. */
export const ROUTING_POLICIES = ["round-robin", "random", "least-latency"] as const;
export type RoutingPolicy = (typeof ROUTING_POLICIES)[number];

/** A registered OpenWhisk deployment. Its credentials are stored encrypted and never returned. */
export interface BackendInfo {
  name: string;
  apihost: string;
  /** The user whose calls it serves; absent exactly when `shared`. */
  user?: string;
  /** Serves every user: their actions and activations there are visible to each other. */
  shared: boolean;
  createdAt: string;
  /** Moving average of measured call times; absent until the first call. */
  latencyMs?: number;
  /** Set while the backend is skipped after a failure. */
  backoffUntil?: string;
}

/** POST /v1/backends body. `auth` is the backend's `uuid:key`. */
export interface BackendInput {
  name: string;
  apihost: string;
  auth: string;
  /** Exactly one of `user` and `shared: true` is required: sharing is never a default. */
  user?: string;
  shared?: boolean;
  policy?: RoutingPolicy;
  /** Needed for an apihost on a loopback, link-local or private address (BACKEND_ADDRESS_PRIVATE otherwise). */
  allowPrivateAddress?: boolean;
}

/** PUT /v1/users/:user/backend-policy body and answer item. */
export interface RoutingPolicyInfo {
  user: string;
  policy: RoutingPolicy;
}

/** A caller key for the OpenWhisk API, as listed (the key itself is shown only once). */
export interface WskKeyInfo {
  uuid: string;
  user: string;
  createdAt: string;
}

/** POST /v1/users/:user/wsk-keys answer: `uuid:key` is the wsk `--auth` value. */
export interface IssuedWskKey {
  item: WskKeyInfo;
  uuid: string;
  key: string;
}
