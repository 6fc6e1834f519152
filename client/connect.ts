import type { X509Certificate } from "node:crypto";
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import type { TicketResponse } from "../protocol/api.ts";
import { FlockError } from "../protocol/errors.ts";
import type { PeerProtocol } from "../protocol/frames.ts";
import { parseHostPort } from "../protocol/host-port.ts";
import { CHANNEL_PATTERN, DEFAULT_CHANNEL, isValidName } from "../protocol/names.ts";
import { pairIdInput, pairIdOfDigest, partyRef, type Role } from "../protocol/ticket.ts";
import type { RetryEvent } from "./attempts.ts";
import { retryUntil } from "./attempts.ts";
import { checkControlPlaneUrl, plainHttpAllowed } from "./control-plane-url.ts";
import type { Transport } from "./dial.ts";
import { DEFAULT_TRANSPORT, isTransport } from "./dial.ts";
import type { IdentityMaterials, PartyConfig } from "./identity.ts";
import { createIdentity, loadIdentity } from "./identity.ts";
import type { Route, RouteEvent } from "./reach-peer.ts";
import { PEER_SETUP_SILENCE_MS } from "./setup-silence.ts";
import type { StreamEvent } from "./stream/framed-stream.ts";
import { SessionOpener } from "./stream/session-opener.ts";
import { framedChannel } from "./stream/stream-channel.ts";
import type { StreamLimits } from "./stream/stream-limits.ts";
import { streamLimits } from "./stream/stream-limits.ts";

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
   * How long the peer side may send nothing while a connection is set up, from PAIRED to the
   * end of the OPEN (or a resume's RESUME) exchange; past it the attempt is dropped with
   * PEER_SILENT and retried. Default PEER_SETUP_SILENCE_MS.
   */
  setupSilenceMs?: number;
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
  /** The end-to-end stream (docs/stream.md): its window, resume deadline and heartbeats. */
  stream?: StreamOptions;
}

export interface StreamOptions extends Partial<StreamLimits> {
  /**
   * Offer SDK wire version 2 (default true): an end that cannot be cut short unnoticed, bound
   * to its pair and channel, and resumed across relay failures. Off, or with a peer that does
   * not offer it, the channel is the raw end-to-end TLS.
   */
  framing?: boolean;
  /** Reconnect a broken transport (default true); off, a break is STREAM_TRUNCATED at once. */
  resume?: boolean;
}

export type ConnectEvent = RouteEvent | RetryEvent | StreamEvent;

/** An open end-to-end channel and what was learned while opening it. */
export interface Channel {
  /**
   * The stream to the peer: a FramedStream (client/stream/framed-stream.ts) when both ends
   * speak wire version 2, else the end-to-end TLS socket itself.
   */
  socket: Duplex;
  /** Wire version 2: END frames, binding, resume. */
  framed: boolean;
  /** `user/party` of the peer, proven by its certificate. */
  peer: string;
  /** The peer's end-to-end certificate, as checked. */
  peerCertificate: X509Certificate;
  role: Role;
  pair: string;
  relay: string;
  transport: Transport;
  /** What the peer speaks end to end (docs/coming-from-frelay.md "Mixed pairs"). */
  peerProtocol: PeerProtocol;
}

/** End-to-end mutual TLS with `dest`: the contract's `connect`, a Duplex to the peer. */
export async function connect(options: ConnectOptions = {}): Promise<Duplex> {
  return (await openChannel(options)).socket;
}

/**
 * Ticket → dial → handshake → paired → end-to-end mTLS → (version 2) OPEN both ways, retried
 * with a fresh ticket and backoff until the deadline for failures that can cure themselves
 * (a break between the OPEN frames is healed on the session's resume channel: session-opener.ts).
 */
export async function openChannel(options: ConnectOptions = {}): Promise<Channel> {
  return openPlanned(planConnection(options));
}

/**
 * openChannel for a checked plan; `issued` is the first attempt's ticket when one was fetched
 * already (openChannels: one request for many peers), or none (a failed request for it).
 */
export async function openPlanned(
  plan: Plan,
  issued?: Promise<TicketResponse | undefined>,
): Promise<Channel> {
  let firstTicket = issued;
  const binding = {
    // Hashed here, in this tick: a WebCrypto digest would hold the ticket request back a thread-pool round trip.
    pair: pairIdOfDigest(
      createHash("sha256")
        .update(pairIdInput(plan.identity.user, plan.identity.party, plan.dest, plan.channel))
        .digest(),
    ),
    channel: plan.channel,
    self: partyRef(plan.identity.user, plan.identity.party),
    peer: partyRef(plan.identity.user, plan.dest),
  };
  const opener = new SessionOpener(plan, binding, plan, plan.onEvent);
  const { reached, opened } = await retryUntil(
    plan.deadlineMs,
    (track) => {
      const ticket = firstTicket;
      firstTicket = undefined;
      return opener.attempt(track, ticket);
    },
    plan.onEvent,
  );
  const socket = opened
    ? framedChannel(plan, reached, opened, binding, plan.limits, plan.onEvent)
    : reached.socket;
  return {
    socket,
    framed: opened !== undefined,
    peer: reached.peer,
    peerCertificate: reached.peerCertificate,
    role: reached.role,
    pair: reached.pair,
    relay: reached.relay,
    transport: plan.transport,
    peerProtocol: reached.peerProtocol,
  };
}

export interface Plan extends Route {
  channel: string;
  deadlineMs: number;
  limits: StreamLimits;
  onEvent: (event: ConnectEvent) => void;
}

export function planConnection(options: ConnectOptions): Plan {
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
  const setupSilenceMs = options.setupSilenceMs ?? PEER_SETUP_SILENCE_MS;
  if (!(Number.isFinite(setupSilenceMs) && setupSilenceMs > 0))
    throw new FlockError("CONFIG_INVALID", "The setup silence bound must be a positive number of ms.");
  const direct = options.relay === undefined ? undefined : parseHostPort(options.relay);
  const { framing = true, resume = true, ...limits } = options.stream ?? {};
  return {
    identity,
    dest,
    channel,
    transport,
    deadlineMs,
    setupSilenceMs,
    direct,
    offerFraming: framing,
    limits: streamLimits(limits),
    resume,
    onEvent: options.onEvent ?? (() => {}),
  };
}
