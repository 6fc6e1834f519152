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

export interface RelayInfo {
  name: string;
  hosts: string[];
  port: number;
  fingerprint: string;
  createdAt: string;
  lastReportAt?: string;
  load?: RelayLoad;
  /** Reported within RELAY_LIVE_SECONDS. */
  live: boolean;
}

export interface RelayLoad {
  activePairs: number;
  waitingSides: number;
  bytesPerSecond: number;
  capacity: number;
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
}

export interface TicketResponse {
  ticket: string;
  expiresAt: string;
  pair: string;
  role: "client" | "server";
  peer: string;
  relay: { name: string; hosts: string[]; port: number };
}

/** Body inside the signed request to POST /v1/relays/report. */
export type RelayReportBody = RelayLoad;

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
