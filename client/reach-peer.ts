import type { X509Certificate } from "node:crypto";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { TicketResponse } from "../protocol/api.ts";
import { MAX_UNREACHABLE_RELAYS } from "../protocol/api.ts";
import { FlockError } from "../protocol/errors.ts";
import type { PeerProtocol } from "../protocol/frames.ts";
import { partyRef, type Role } from "../protocol/ticket.ts";
import type { Track } from "./attempts.ts";
import type { RelayHosts, RelayStream, Transport } from "./dial.ts";
import { dialAnyHost } from "./dial.ts";
import type { ClaimedDial } from "./early-dial.ts";
import { dialEarly, likelyRelay, rememberRelay } from "./early-dial.ts";
import type { HelloRequest } from "./handshake.ts";
import { relayHandshake } from "./handshake.ts";
import type { PartyConfig } from "./identity.ts";
import { watchForPairMove } from "./pair-move-watch.ts";
import { securePeerChannel } from "./peer-tls.ts";
import { relayKeyMaterial } from "./relay-key-material.ts";
import { type Revocations, revocationsOf } from "./revocation-list.ts";
import { SetupSilence } from "./setup-silence.ts";
import { fetchTicket } from "./ticket-client.ts";

/** How this side reaches its peer; the channel name is per attempt (a resume meets on its own). */
export interface Route {
  identity: PartyConfig;
  dest: string;
  transport: Transport;
  /** Direct mode: this data plane, no ticket. */
  direct: { host: string; port: number } | undefined;
  /** Offer SDK wire version 2 in the end-to-end TLS. */
  offerFraming: boolean;
  /** Resume a broken version 2 stream; with `offerFraming`, the hello says this side resumes. */
  resume: boolean;
  /** How long the peer side may send nothing from PAIRED to the end of the setup (setup-silence.ts). */
  setupSilenceMs: number;
  onEvent: (event: RouteEvent) => void;
}

export type RouteEvent =
  | { type: "ticket"; relay: string; role: Role; pair: string }
  | { type: "dialed"; transport: Transport; host: string; port: number }
  | { type: "waiting" }
  /**
   * `peerProtocol: "frelay"`: the peer is a client of the original Flock relay (direct
   * mode), so the channel is plain end-to-end TLS: no verdict byte, no stream framing.
   */
  | { type: "paired"; peer: string; role: Role; peerProtocol: PeerProtocol }
  /** No fresh revocation list: the peer is checked against the last one verified (`fetchedAt`), or none. */
  | { type: "revocations-unavailable"; error: FlockError; fetchedAt?: string };

/** This side's role in the end-to-end TLS and the pair's id, as the data plane said in PAIRED. */
export interface PairedAs {
  role: Role;
  pair: string;
}

/** The end-to-end TLS to the peer, verified, and what was learned on the way. */
export interface Reached {
  socket: TLSSocket;
  peerCertificate: X509Certificate;
  /** Both sides speak wire version 2 on `socket`. */
  framed: boolean;
  /** What the peer speaks end to end (docs/coming-from-frelay.md "Mixed pairs"). */
  peerProtocol: PeerProtocol;
  peer: string;
  role: Role;
  pair: string;
  relay: string;
  /**
   * Still watching the peer's silence: the caller bounds its OPEN or RESUME exchange with it,
   * then stops it (or stops it at once, with nothing left to exchange).
   */
  setup: SetupSilence;
}

/**
 * Data planes one series of attempts could not dial, named in its next ticket requests so the
 * worker assigns the pair elsewhere (a crashed one stays live there for RELAY_LIVE_SECONDS).
 */
export class UnreachableRelays {
  readonly #names: string[] = [];

  add(name: string): void {
    if (this.#names.includes(name)) return;
    this.#names.push(name);
    if (this.#names.length > MAX_UNREACHABLE_RELAYS) this.#names.shift();
  }

  get names(): string[] {
    return [...this.#names];
  }

  /** The worker has no other live relay: the one that failed may be back, so try them all again. */
  clear(): void {
    this.#names.length = 0;
  }
}

/**
 * One attempt: ticket (unless direct) → dial → Flock handshake → paired → end-to-end mTLS.
 * `issued` is a ticket already fetched for this attempt (openChannels asks for several peers'
 * at once); without one, or when it resolves to none, the attempt asks for its own.
 * `firstFrame`: the stream's first frame, sent behind the TLS client's verdict (peer-tls.ts),
 * told which pair and role it opens.
 */
export async function reachPeer(
  route: Route,
  channel: string,
  track: Track,
  unreachable: UnreachableRelays = new UnreachableRelays(),
  issued?: Promise<TicketResponse | undefined>,
  firstFrame?: (socket: TLSSocket, at: PairedAs) => Buffer,
): Promise<Reached> {
  const { identity, dest, transport, onEvent } = route;
  // Fetched beside the ticket and the dial; it never rejects, and is awaited once paired.
  const revocations = revocationsOf(identity);
  let relayName: string | undefined;
  let watch: ReturnType<typeof watchForPairMove> | undefined;
  const events = {
    onWaiting: () => {
      onEvent({ type: "waiting" as const });
      watch?.start();
    },
    onChallenge: (name: string) => {
      relayName ??= name;
    },
  };
  const { certDer, key } = relayKeyMaterial(identity);
  const hello = { relayCertDer: certDer, relayKey: key, resumable: route.offerFraming && route.resume };
  let relay: RelayHosts;
  let claimed: ClaimedDial | undefined;
  let request: HelloRequest;
  if (route.direct) {
    relay = { name: undefined, hosts: [route.direct.host], port: route.direct.port };
    request = { direct: { dest, tag: channel } };
  } else {
    const likely = likelyRelay(identity.url);
    const early = likely && dialEarly(likely, transport, identity, track, events);
    const avoid = unreachable.names;
    const ticketRequest = { dest, channel, ...(avoid.length > 0 ? { unreachable: avoid } : {}) };
    const ticket = await (issued ?? Promise.resolve(undefined))
      .then((given) => given ?? fetchTicket(identity, ticketRequest, track.signal))
      .catch((error: unknown) => {
        early?.abandon();
        if (error instanceof FlockError && error.code === "NO_RELAY_AVAILABLE") unreachable.clear();
        throw error;
      });
    onEvent({ type: "ticket", relay: ticket.relay.name, role: ticket.role, pair: ticket.pair });
    rememberRelay(identity.url, ticket.relay);
    relay = ticket.relay;
    relayName = relay.name;
    claimed = early?.claim(ticket, hello);
    request = { ticket: ticket.ticket };
    watch = watchForPairMove(identity, ticketRequest, ticket.relay.name);
  }

  let stream: RelayStream;
  try {
    const dialed = await (claimed?.dialed ?? dialAnyHost(relay, transport, identity, track));
    stream = dialed.stream;
    onEvent({ type: "dialed", transport, host: dialed.host, port: relay.port });
  } catch (error) {
    if (relay.name !== undefined) unreachable.add(relay.name);
    throw error;
  }
  const handshake = claimed?.paired ?? relayHandshake(stream, { ...request, ...hello }, events);
  const paired = await (watch ? Promise.race([handshake, watch.moved]) : handshake).then(
    (value) => {
      watch?.stop();
      return value;
    },
    (error: unknown) => {
      watch?.stop();
      stream.destroy();
      throw error;
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
  const peerProtocol = paired.peerProtocol ?? "flock";
  onEvent({ type: "paired", peer: paired.peer, role: paired.role, peerProtocol });
  refuseRevokedPeer(await revocations, dest, stream, onEvent);

  // Counted from here, not from PAIRED: waiting for this side's own revocation list is no
  // silence of the peer's. The worker would give this pair the same data plane again: one that
  // pairs and then stalls is named unreachable in the next ticket requests, so the pair moves
  // to another if there is one.
  const setup = new SetupSilence(
    () => stream.bytesRead,
    route.setupSilenceMs,
    () => {
      if (relay.name !== undefined) unreachable.add(relay.name);
    },
  );
  const secured = await securePeerChannel(
    stream,
    paired.role,
    identity,
    { user: identity.user, party: dest },
    // The original relay's clients speak plain TLS: nothing of Flock's is offered to them.
    {
      offerFraming: route.offerFraming && peerProtocol === "flock",
      peerProtocol,
      ...(firstFrame
        ? { firstFrame: (socket: TLSSocket) => firstFrame(socket, { role: paired.role, pair: paired.pair }) }
        : {}),
      silence: setup,
    },
  ).catch((error: unknown) => {
    setup.stop();
    throw error;
  });
  track(secured.socket);
  return {
    ...secured,
    setup,
    peerProtocol,
    peer: expectedPeer,
    role: paired.role,
    pair: paired.pair,
    relay: relayName ?? "",
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
  onEvent: (event: RouteEvent) => void,
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
