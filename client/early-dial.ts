import type { Duplex } from "node:stream";
import type { TicketResponse } from "../protocol/api.ts";
import { FlockError } from "../protocol/errors.ts";
import type { PairedFrame } from "../protocol/frames.ts";
import type { RelayCredentials, RelayHosts, RelayStream, Transport } from "./dial.ts";
import { dialAnyHost } from "./dial.ts";
import type { HandshakeEvents, HelloCredentials } from "./handshake.ts";
import { relayHandshake } from "./handshake.ts";

type RelayEndpoint = TicketResponse["relay"];

/** Worker URLs whose last data plane this process remembers; a function talks to one or two. */
export const MAX_REMEMBERED_WORKERS = 32;

const lastRelays = new Map<string, RelayEndpoint>();

/** The data plane the worker at `workerUrl` named in its last ticket to this process. */
export function likelyRelay(workerUrl: string): RelayEndpoint | undefined {
  return lastRelays.get(workerUrl);
}

export function rememberRelay(workerUrl: string, relay: RelayEndpoint): void {
  lastRelays.delete(workerUrl);
  if (lastRelays.size >= MAX_REMEMBERED_WORKERS) {
    const oldest = lastRelays.keys().next().value;
    if (oldest !== undefined) lastRelays.delete(oldest);
  }
  lastRelays.set(workerUrl, relay);
}

/** How many workers' relays are remembered, for the test of the bound. */
export function rememberedRelays(): number {
  return lastRelays.size;
}

/** An early stream handed a ticket: the dial (perhaps still under way) and the handshake on it. */
export interface ClaimedDial {
  dialed: Promise<{ stream: RelayStream; host: string }>;
  paired: Promise<PairedFrame>;
}

export interface EarlyDial {
  /**
   * Hands the ticket to the early stream when it names the data plane dialled (same name,
   * hosts and port) and the stream has not failed; otherwise the stream is closed and the
   * caller dials the ticket's relay itself (undefined).
   */
  claim(ticket: TicketResponse, hello: Omit<HelloCredentials, "ticket">): ClaimedDial | undefined;
  /** No ticket will come (its request failed): closes the early stream. */
  abandon(): void;
}

/**
 * Dials `relay` while the ticket is still being fetched and runs the handshake's first
 * exchange (MAGIC, challenge) on it, so a ticket for that relay costs only the hello: a warm
 * function's next pair usually lands on the data plane of its last one. The hello is signed
 * over this connection's challenge, as on any stream: nothing of the proof is made before
 * the ticket is there. A wrong guess costs one connection, closed unused.
 */
export function dialEarly(
  relay: RelayEndpoint,
  transport: Transport,
  credentials: RelayCredentials,
  track: (stream: Duplex) => void,
  events: HandshakeEvents,
): EarlyDial {
  let handOver: { resolve: (c: HelloCredentials) => void; reject: (e: FlockError) => void } | undefined;
  const given = new Promise<HelloCredentials>((resolve, reject) => {
    handOver = { resolve, reject };
  });
  // Rejected when no ticket comes, maybe before any handshake is there to see it.
  given.catch(() => {});
  let failed = false;
  const dialed = dialAnyHost(relay, transport, credentials, track);
  const paired = dialed.then(({ stream }) => relayHandshake(stream, given, events));
  paired.catch(() => {
    failed = true;
  });
  const abandon = () => {
    handOver?.reject(new FlockError("DIAL_FAILED", "The early connection to the data plane was not needed."));
    dialed.then(
      ({ stream }) => stream.destroy(),
      () => {},
    );
  };
  return {
    claim(ticket, hello) {
      if (failed || !sameEndpoint(ticket.relay, relay)) {
        abandon();
        return undefined;
      }
      handOver?.resolve({ ...hello, ticket: ticket.ticket });
      return { dialed, paired };
    },
    abandon,
  };
}

function sameEndpoint(a: RelayHosts, b: RelayHosts): boolean {
  return a.name === b.name && a.port === b.port && a.hosts.join("\n") === b.hosts.join("\n");
}
