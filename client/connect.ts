import type { X509Certificate } from "node:crypto";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { FlockError } from "../protocol/errors.ts";
import { CHANNEL_PATTERN, DEFAULT_CHANNEL, isValidName } from "../protocol/names.ts";
import { partyRef, type Role } from "../protocol/ticket.ts";
import { checkControlPlaneUrl, plainHttpAllowed } from "./control-plane-url.ts";
import type { Transport } from "./dial.ts";
import { DEFAULT_TRANSPORT, dialRelay, isTransport } from "./dial.ts";
import type { HelloRequest } from "./handshake.ts";
import { relayHandshake } from "./handshake.ts";
import type { IdentityMaterials, PartyConfig } from "./identity.ts";
import { createIdentity, loadIdentity } from "./identity.ts";
import { securePeerChannel } from "./peer-tls.ts";
import { relayKeyMaterial } from "./relay-key-material.ts";
import { backoffMs, isRetryable } from "./retry.ts";
import { type Revocations, revocationsOf } from "./revocation-list.ts";
import { fetchTicket } from "./ticket-client.ts";

/**
 * Functions cold-start at different times and the data plane holds a waiting side for its
 * pairing timeout (60 s), so the default leaves room for one full wait and a retry.
 */
export const DEFAULT_CONNECT_DEADLINE_MS = 120_000;

export interface ConnectOptions {
  /** Peer party name; defaults to the identity's `dest` (DEST). */
  dest?: string;
  channel?: string;
  transport?: Transport;
  /** Defaults to `loadIdentity(process.env)`. */
  identity?: IdentityMaterials | PartyConfig;
  deadlineMs?: number;
  /**
   * Seed-compatible direct mode: `host:port` of a data plane to dial without a ticket (the
   * original Flock relay's RELAY). The relay certificate authorises the pair; `channel` is
   * the tag. No worker is asked, so it works while the worker is unreachable.
   */
  relay?: string;
  /** Progress, e.g. for status lines; called synchronously, must not throw. */
  onEvent?: (event: ConnectEvent) => void;
  /**
   * Accept an `http:` FLOCK_URL that is not on loopback, for a worker reached over a trusted
   * private network. Default: FLOCK_ALLOW_PLAIN_HTTP=1 in the environment; otherwise refused.
   */
  allowPlainHttp?: boolean;
}

export type ConnectEvent =
  | { type: "ticket"; relay: string; role: Role; pair: string }
  | { type: "dialed"; transport: Transport; host: string; port: number }
  | { type: "waiting" }
  | { type: "paired"; peer: string; role: Role }
  /** No fresh revocation list: the peer is checked against the last one verified (`fetchedAt`), or none. */
  | { type: "revocations-unavailable"; error: FlockError; fetchedAt?: string }
  | { type: "retry"; error: FlockError; attempt: number; delayMs: number };

/** An open end-to-end channel and what was learned while opening it. */
export interface Channel {
  socket: TLSSocket;
  /** `user/party` of the peer, proven by its certificate. */
  peer: string;
  /** The peer's end-to-end certificate, as checked. */
  peerCertificate: X509Certificate;
  role: Role;
  pair: string;
  relay: string;
  transport: Transport;
}

/** End-to-end mutual TLS with `dest`: the contract's `connect`, a Duplex to the peer. */
export async function connect(options: ConnectOptions = {}): Promise<TLSSocket> {
  return (await openChannel(options)).socket;
}

/**
 * Ticket → dial → handshake → paired → end-to-end mTLS, retried with a fresh ticket and
 * backoff until the deadline for failures that can cure themselves.
 */
export async function openChannel(options: ConnectOptions = {}): Promise<Channel> {
  const plan = planConnection(options);
  const deadline = Date.now() + plan.deadlineMs;
  let lastError: FlockError | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      return await attemptBefore(deadline, plan.deadlineMs, (track) => attemptOnce(plan, track), lastError);
    } catch (error) {
      const flockError = asFlockError(error);
      if (flockError.code === "CONNECT_TIMEOUT" || !isRetryable(flockError.code)) throw flockError;
      lastError = flockError;
      const delayMs = backoffMs(attempt);
      if (Date.now() + delayMs >= deadline) throw timeoutError(plan.deadlineMs, lastError);
      plan.onEvent({ type: "retry", error: flockError, attempt: attempt + 1, delayMs });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

interface Plan {
  identity: PartyConfig;
  dest: string;
  channel: string;
  transport: Transport;
  deadlineMs: number;
  direct: { host: string; port: number } | undefined;
  onEvent: (event: ConnectEvent) => void;
}

function planConnection(options: ConnectOptions): Plan {
  // An identity given in code is checked like one from the environment (once per distinct
  // text, see parsed-cache.ts): a key that does not match its certificate fails here, not mid-handshake.
  const identity = options.identity ? createIdentity(options.identity) : loadIdentity();
  checkControlPlaneUrl(identity.url, plainHttpAllowed(options.allowPlainHttp));
  const dest = options.dest ?? identity.dest;
  if (dest === undefined)
    throw new FlockError("CONFIG_INVALID", "No destination party: pass `dest` or set DEST.");
  if (!isValidName(dest))
    throw new FlockError("CONFIG_INVALID", `Destination "${dest}" is not a valid party name.`);
  const channel = options.channel ?? DEFAULT_CHANNEL;
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new FlockError(
      "CONFIG_INVALID",
      `Channel "${channel}" is not 1-64 letters, digits, '.', '-' or '_'.`,
    );
  }
  const transport = options.transport ?? DEFAULT_TRANSPORT;
  if (!isTransport(transport))
    throw new FlockError("CONFIG_INVALID", `Unknown transport "${String(transport)}".`);
  const deadlineMs = options.deadlineMs ?? DEFAULT_CONNECT_DEADLINE_MS;
  if (!(deadlineMs > 0))
    throw new FlockError("CONFIG_INVALID", "The connect deadline must be a positive number of ms.");
  const direct = options.relay === undefined ? undefined : parseHostPort(options.relay);
  return { identity, dest, channel, transport, deadlineMs, direct, onEvent: options.onEvent ?? (() => {}) };
}

/** `host:port` or `[v6]:port`. */
function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[3]);
  const host = m?.[1] ?? m?.[2];
  if (!host || !(port > 0 && port < 65536)) {
    throw new FlockError("CONFIG_INVALID", `Relay address "${value}" is not host:port.`);
  }
  return { host, port };
}

/** Registers a stream to destroy if the deadline passes; `signal` aborts the ticket request. */
interface Track {
  (resource: Duplex): void;
  signal: AbortSignal;
}

/**
 * Runs one attempt, but gives up at the deadline: every stream the attempt opened is
 * destroyed, so nothing is left dangling, and the caller gets CONNECT_TIMEOUT.
 */
function attemptBefore<T>(
  deadline: number,
  deadlineMs: number,
  run: (track: Track) => Promise<T>,
  lastError: FlockError | undefined,
): Promise<T> {
  const resources: Duplex[] = [];
  const abort = new AbortController();
  const remaining = deadline - Date.now();
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => {
        abort.abort();
        for (const r of resources) r.destroy();
        reject(timeoutError(deadlineMs, lastError));
      },
      Math.max(0, remaining),
    );
    const track = Object.assign(
      (resource: Duplex) => {
        if (abort.signal.aborted) resource.destroy();
        else resources.push(resource);
      },
      { signal: abort.signal },
    );
    run(track).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

async function attemptOnce(plan: Plan, track: Track): Promise<Channel> {
  const { identity, dest, channel, transport, onEvent } = plan;
  // Fetched beside the ticket and the dial; it never rejects, and is awaited once paired.
  const revocations = revocationsOf(identity);
  let relay: { name: string | undefined; hosts: string[]; port: number };
  let request: HelloRequest;
  if (plan.direct) {
    relay = { name: undefined, hosts: [plan.direct.host], port: plan.direct.port };
    request = { direct: { dest, tag: channel } };
  } else {
    const ticket = await fetchTicket(identity, { dest, channel }, track.signal);
    onEvent({ type: "ticket", relay: ticket.relay.name, role: ticket.role, pair: ticket.pair });
    relay = ticket.relay;
    request = { ticket: ticket.ticket };
  }

  const stream = await dialAnyHost(relay, transport, identity, track, onEvent);
  let relayName = relay.name;
  const paired = await relayHandshake(
    stream,
    {
      ...request,
      relayCertDer: relayKeyMaterial(identity).certDer,
      relayKey: relayKeyMaterial(identity).key,
    },
    {
      onWaiting: () => onEvent({ type: "waiting" }),
      onChallenge: (name) => {
        relayName ??= name;
      },
    },
  );
  const expectedPeer = partyRef(identity.user, dest);
  if (paired.peer !== expectedPeer) {
    stream.destroy();
    throw new FlockError(
      "PEER_IDENTITY_MISMATCH",
      `The data plane paired this party with ${paired.peer}, not ${expectedPeer}.`,
    );
  }
  onEvent({ type: "paired", peer: paired.peer, role: paired.role });
  refuseRevokedPeer(await revocations, dest, stream, onEvent);

  const { socket, peerCertificate } = await securePeerChannel(stream, paired.role, identity, {
    user: identity.user,
    party: dest,
  });
  return {
    socket,
    peerCertificate,
    peer: expectedPeer,
    role: paired.role,
    pair: paired.pair,
    relay: relayName ?? "",
    transport,
  };
}

/**
 * In every mode, and whatever the relay said: a peer the user revoked is refused before the
 * end-to-end TLS, even when a relay holds its leaked keys and the worker has not refused it.
 */
function refuseRevokedPeer(
  revocations: Revocations,
  dest: string,
  stream: Duplex,
  onEvent: (event: ConnectEvent) => void,
): void {
  if (revocations.problem) {
    const fetchedAt = revocations.fetchedAt;
    onEvent({
      type: "revocations-unavailable",
      error: revocations.problem,
      ...(fetchedAt === undefined ? {} : { fetchedAt: new Date(fetchedAt).toISOString() }),
    });
  }
  if (!revocations.revoked.has(dest)) return;
  stream.destroy();
  throw new FlockError(
    "DEST_REVOKED",
    `Party ${dest} is on the revocation list its user published; it is refused.`,
  );
}

/** Hosts are tried in the worker's order; the first that answers is used. */
async function dialAnyHost(
  relay: { name: string | undefined; hosts: string[]; port: number },
  transport: Transport,
  identity: PartyConfig,
  track: Track,
  onEvent: (event: ConnectEvent) => void,
): Promise<Duplex> {
  let lastError: unknown;
  for (const host of relay.hosts) {
    try {
      const stream = await dialRelay({ name: relay.name, host, port: relay.port }, transport, identity);
      track(stream);
      onEvent({ type: "dialed", transport, host, port: relay.port });
      return stream;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError ?? new FlockError("DIAL_FAILED", `Data plane ${relay.name} has no address.`);
}

function timeoutError(deadlineMs: number, lastError: FlockError | undefined): FlockError {
  const last = lastError ? ` Last failure: ${lastError.message} (${lastError.code})` : "";
  return new FlockError(
    "CONNECT_TIMEOUT",
    `No end-to-end channel within ${Math.round(deadlineMs)} ms.${last}`,
    lastError ? { cause: lastError } : undefined,
  );
}

function asFlockError(error: unknown): FlockError {
  if (error instanceof FlockError) return error;
  return new FlockError("INTERNAL", error instanceof Error ? error.message : String(error), { cause: error });
}
