import type { Logger } from "pino";
import { RELAY_REPORT_INTERVAL_SECONDS } from "../protocol/api.ts";
import { FlockError } from "../protocol/errors.ts";
import { isValidName } from "../protocol/names.ts";
import { isLoopbackHostname, PAIRING_TIMEOUT_MS, WS_MAX_MESSAGE_BYTES } from "../protocol/wire.ts";

/**
 * Every limit and timeout of the data plane, with its default. Each is a field of
 * DataPlaneConfig so operators (and tests) can tune it, and each has a test proving it is
 * enforced.
 */
/** From accept to a verified hello: TLS handshake, WebSocket upgrade, MAGIC, hello, verification. */
export const HELLO_DEADLINE_MS = 10_000;
/**
 * From accept to the Flock MAGIC on every transport (TLS handshake and WebSocket upgrade
 * included). A party sends it at once; a connection that stalls before it is let go long
 * before the hello deadline, so a flood of stalled connections holds its places briefly.
 */
export const MAGIC_DEADLINE_MS = 3_000;
/** A spliced pair with no byte in either direction for this long is closed. */
export const IDLE_TIMEOUT_MS = 10 * 60_000;
/** Pairs (spliced or half-formed) held at once; beyond it new sides get OVER_CAPACITY. */
export const MAX_PAIRS = 10_000;
/** Sides of one party waiting at once: pair ids and channels are free labels a party picks. */
export const MAX_WAITING_PER_PARTY = 64;
/** The share of maxPairs one user's parties may hold (waiting or spliced), unless set on its own. */
export const USER_SHARE_OF_MAX_PAIRS = 1 / 4;
/** Graceful shutdown: how long existing pairs may keep going after SIGTERM. */
export const DRAIN_DEADLINE_MS = 30_000;
/** The WebSocket upgrade request head (request line + headers) is read up to this size. */
export const MAX_UPGRADE_REQUEST_BYTES = 8 * 1024;
/**
 * One WebSocket message is buffered whole by `ws`, so its size is capped: the SDK sends at
 * most WS_MAX_MESSAGE_BYTES per message; 1 KiB of slack on top.
 */
export const MAX_WS_MESSAGE_BYTES = WS_MAX_MESSAGE_BYTES + 1024;
/** Connections not yet authenticated, in all: each may hold a TLS session and buffers. */
export const MAX_HANDSHAKING_CONNECTIONS = 1024;
/** Connections not yet authenticated from one source network, so one network cannot take them all. */
export const MAX_HANDSHAKING_PER_PREFIX = 64;
/** The source network of a connection, for that cap: an IPv4 /24, an IPv6 /64 (what one site usually holds). */
export const HANDSHAKE_PREFIX_BITS_V4 = 24;
export const HANDSHAKE_PREFIX_BITS_V6 = 64;
/** Bytes a waiting side may send before PAIRED; beyond it the relay stops reading (backpressure). */
export const MAX_EARLY_BYTES = 64 * 1024;
/**
 * A waiting side the relay no longer reads (its early bytes are full) cannot show its FIN,
 * which sits behind its unread bytes; it gets a WAITING frame this often instead, and the
 * reset a departed client's kernel answers with frees its place.
 */
export const WAITING_PROBE_INTERVAL_MS = 1_000;
/** After an ERROR frame the relay keeps draining input this long so the frame is not lost to a RST. */
export const ERROR_LINGER_MS = 1_000;
/** JWKS refetches for an unknown key id happen at most this often. */
export const JWKS_REFETCH_MIN_INTERVAL_MS = 30_000;
/** Upper bound on one call to the worker (JWKS fetch, load report). */
export const WORKER_REQUEST_TIMEOUT_MS = 5_000;
/** Clock skew allowed on a ticket's exp/nbf. */
export const TICKET_CLOCK_TOLERANCE_SECONDS = 5;
/**
 * The longest a ticket may live (exp − iat, or exp − now for an iat in the future): the
 * worker issues them for TICKET_TTL_SECONDS, so a longer one is a worker bug or a forgery
 * with a leaked key, and refused.
 */
export const MAX_TICKET_LIFETIME_SECONDS = 15 * 60;

/** Metrics say how busy the relay is and who is refused: not for anyone who can reach its port. */
export const DEFAULT_METRICS_HOST = "127.0.0.1";

export interface DataPlaneLimits {
  helloDeadlineMs: number;
  magicDeadlineMs: number;
  pairingTimeoutMs: number;
  idleTimeoutMs: number;
  maxPairs: number;
  maxWaitingPerParty: number;
  /** Defaults to USER_SHARE_OF_MAX_PAIRS of maxPairs. */
  maxPairsPerUser: number;
  maxUpgradeRequestBytes: number;
  maxWsMessageBytes: number;
  maxHandshakingConnections: number;
  maxHandshakingPerPrefix: number;
  /** Prefix lengths of a source network, 1–32 and 1–128. */
  handshakePrefixBitsV4: number;
  handshakePrefixBitsV6: number;
  maxEarlyBytes: number;
  waitingProbeIntervalMs: number;
  errorLingerMs: number;
  jwksRefetchMinIntervalMs: number;
  workerRequestTimeoutMs: number;
}

function userShareOf(maxPairs: number): number {
  return Math.max(1, Math.floor(maxPairs * USER_SHARE_OF_MAX_PAIRS));
}

export const DEFAULT_LIMITS: DataPlaneLimits = {
  helloDeadlineMs: HELLO_DEADLINE_MS,
  magicDeadlineMs: MAGIC_DEADLINE_MS,
  pairingTimeoutMs: PAIRING_TIMEOUT_MS,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  maxPairs: MAX_PAIRS,
  maxWaitingPerParty: MAX_WAITING_PER_PARTY,
  maxPairsPerUser: userShareOf(MAX_PAIRS),
  maxUpgradeRequestBytes: MAX_UPGRADE_REQUEST_BYTES,
  maxWsMessageBytes: MAX_WS_MESSAGE_BYTES,
  maxHandshakingConnections: MAX_HANDSHAKING_CONNECTIONS,
  maxHandshakingPerPrefix: MAX_HANDSHAKING_PER_PREFIX,
  handshakePrefixBitsV4: HANDSHAKE_PREFIX_BITS_V4,
  handshakePrefixBitsV6: HANDSHAKE_PREFIX_BITS_V6,
  maxEarlyBytes: MAX_EARLY_BYTES,
  waitingProbeIntervalMs: WAITING_PROBE_INTERVAL_MS,
  errorLingerMs: ERROR_LINGER_MS,
  jwksRefetchMinIntervalMs: JWKS_REFETCH_MIN_INTERVAL_MS,
  workerRequestTimeoutMs: WORKER_REQUEST_TIMEOUT_MS,
};

export interface DataPlaneConfig {
  /** Relay name: the ticket audience and the name in the server certificate. */
  name: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * Worker base URL (JWKS and load reports, which carry revocations): https, or http only
   * on loopback, e.g. http://127.0.0.1:8787, unless allowPlainHttpWorker.
   */
  workerUrl: string;
  /** Accept http to a non-loopback worker (a private network the operator trusts). */
  allowPlainHttpWorker: boolean;
  /** Where the last revocation list is kept across restarts; null keeps it in memory only. */
  stateFile: string | null;
  /** PEM of this relay's server certificate and its private key (signed by the relay CA). */
  certPem: string;
  keyPem: string;
  /** PEM of the relay CA: party relay certificates must chain to it. */
  relayCaPem: string;
  /** Port of the Prometheus endpoint; 0 picks a free one; null turns it off. */
  metricsPort: number | null;
  /** Where metrics listen: loopback (DEFAULT_METRICS_HOST) unless the operator opens them. */
  metricsHost: string;
  /** Load reports to the worker (default RELAY_REPORT_INTERVAL_SECONDS); null turns them off. */
  reportIntervalMs: number | null;
  /**
   * Plain-TCP pairs moved by the kernel (splice(2), the native addon) when it is built;
   * false forces the JS splice for every pair (FLOCK_NATIVE_SPLICE=0). Default true.
   */
  kernelSplice: boolean;
  limits: DataPlaneLimits;
  logger: Logger;
}

export type DataPlaneConfigInput = Omit<
  DataPlaneConfig,
  "limits" | "metricsHost" | "reportIntervalMs" | "stateFile" | "allowPlainHttpWorker" | "kernelSplice"
> & {
  kernelSplice?: boolean;
  limits?: Partial<DataPlaneLimits>;
  stateFile?: string | null;
  allowPlainHttpWorker?: boolean;
  metricsHost?: string;
  reportIntervalMs?: number | null;
};

function invalid(detail: string): never {
  throw new FlockError("CONFIG_INVALID", `Data plane configuration: ${detail}`);
}

const isPort = (value: unknown) =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) < 65536;

/** Fills defaults and refuses anything that would only fail later, deep inside a connection. */
export function validateConfig(input: DataPlaneConfigInput): DataPlaneConfig {
  if (!isValidName(input.name)) invalid(`relay name ${JSON.stringify(input.name)} is not a valid name.`);
  if (!isPort(input.port)) invalid(`port ${input.port} is not a TCP port.`);
  if (input.metricsPort !== null && !isPort(input.metricsPort)) {
    invalid(`metrics port ${input.metricsPort} is not a TCP port.`);
  }
  let url: URL;
  try {
    url = new URL(input.workerUrl);
  } catch {
    invalid(`worker URL ${JSON.stringify(input.workerUrl)} is not a URL.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") invalid("the worker URL must be http or https.");
  if (url.protocol === "http:" && !isLoopbackHostname(url.hostname) && !input.allowPlainHttpWorker) {
    invalid(
      `the worker URL ${url.origin} must be https: revocations and ticket keys come from it, and plain http is only accepted on loopback.`,
    );
  }
  for (const [field, pem] of [
    ["certPem", input.certPem],
    ["keyPem", input.keyPem],
    ["relayCaPem", input.relayCaPem],
  ] as const) {
    if (typeof pem !== "string" || !pem.includes("-----BEGIN ")) invalid(`${field} is not PEM.`);
  }
  const limits = { ...DEFAULT_LIMITS, ...input.limits };
  if (input.limits?.maxPairsPerUser === undefined) limits.maxPairsPerUser = userShareOf(limits.maxPairs);
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0)
      invalid(`limit ${key} must be a positive number, got ${value}.`);
  }
  for (const [key, most] of [
    ["handshakePrefixBitsV4", 32],
    ["handshakePrefixBitsV6", 128],
  ] as const) {
    if (!Number.isInteger(limits[key]) || limits[key] > most)
      invalid(`limit ${key} must be a whole number from 1 to ${most}.`);
  }
  const reportIntervalMs =
    input.reportIntervalMs === undefined ? RELAY_REPORT_INTERVAL_SECONDS * 1000 : input.reportIntervalMs;
  if (reportIntervalMs !== null && !(reportIntervalMs > 0)) invalid("the report interval must be positive.");
  return {
    ...input,
    workerUrl: input.workerUrl.replace(/\/+$/, ""),
    metricsHost: input.metricsHost ?? DEFAULT_METRICS_HOST,
    stateFile: input.stateFile ?? null,
    allowPlainHttpWorker: input.allowPlainHttpWorker ?? false,
    kernelSplice: input.kernelSplice ?? true,
    reportIntervalMs,
    limits,
  };
}
