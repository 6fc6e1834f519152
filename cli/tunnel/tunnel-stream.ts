import { randomBytes } from "node:crypto";
import type { Channel } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { Transport } from "../../client/dial.ts";
import type { PartyConfig } from "../../client/identity.ts";
import { CHANNEL_PATTERN } from "../../protocol/names.ts";

export const DEFAULT_TUNNEL_CHANNEL = "tunnel";
/** Random bytes in a stream's channel name: 48 bits, so concurrent streams never collide. */
const STREAM_ID_BYTES = 6;
const STREAM_SUFFIX = new RegExp(`^[0-9a-f]{${STREAM_ID_BYTES * 2}}$`);
/** Channel names are at most 64 characters; a stream's is `<control>.<12 hex digits>`. */
export const MAX_TUNNEL_CHANNEL_LENGTH = 64 - 1 - STREAM_ID_BYTES * 2;

/** Streams (local connections) one tunnel carries at once; the listen side accepts no more. */
export const MAX_TUNNEL_STREAMS = 256;
/**
 * Streams waiting for their peer at once. Each is a waiting side on the data plane, which
 * holds at most 64 per party (MAX_WAITING_PER_PARTY); more local connections wait their turn.
 */
export const MAX_OPENING_TUNNEL_STREAMS = 32;
/** A stream that moved no byte for a day is closed; the relay's own idle timeout is usually shorter. */
export const TUNNEL_STREAM_IDLE_TIMEOUT_MS = 24 * 3_600_000;

export interface TunnelLimits {
  maxStreams: number;
  maxOpeningStreams: number;
  streamIdleTimeoutMs: number;
  keepaliveMs?: number;
}

export const DEFAULT_TUNNEL_LIMITS: TunnelLimits = {
  maxStreams: MAX_TUNNEL_STREAMS,
  maxOpeningStreams: MAX_OPENING_TUNNEL_STREAMS,
  streamIdleTimeoutMs: TUNNEL_STREAM_IDLE_TIMEOUT_MS,
};

/** What both tunnel ends need; the identity and the peer are those of `flock connect`. */
export interface TunnelOptions {
  identity: PartyConfig;
  dest: string;
  /** The control channel's name; each stream's channel is this plus a random suffix. */
  channel: string;
  transport: Transport;
  /** Per stream: give up on a peer that does not pair within this many ms. */
  deadlineMs: number;
  /** Per stream: the connect option setupSilenceMs (default PEER_SETUP_SILENCE_MS). */
  setupSilenceMs?: number;
  /** Direct mode (`--relay host:port`): channels become tags, no ticket is asked for. */
  relay?: string;
  /** A broken stream or control channel not resumed within this long fails (docs/stream.md). */
  resumeDeadlineMs?: number;
  log: (line: string) => void;
  limits?: Partial<TunnelLimits>;
}

export interface Tunnel {
  /** Streams opening or open. */
  streams(): number;
  /** Rejects when the tunnel cannot work; see ControlChannel.failed. */
  readonly failed: Promise<never>;
  /** Closes the listener and the control channel and resets every stream. */
  stop(): Promise<void>;
}

export function tunnelLimits(options: TunnelOptions): TunnelLimits {
  return { ...DEFAULT_TUNNEL_LIMITS, ...options.limits };
}

export async function openTunnelChannel(options: TunnelOptions, channel: string): Promise<Channel> {
  const opened = await openChannel({
    identity: options.identity,
    dest: options.dest,
    channel,
    transport: options.transport,
    deadlineMs: options.deadlineMs,
    ...(options.setupSilenceMs ? { setupSilenceMs: options.setupSilenceMs } : {}),
    ...(options.relay ? { relay: options.relay } : {}),
    ...(options.resumeDeadlineMs ? { stream: { resumeDeadlineMs: options.resumeDeadlineMs } } : {}),
  });
  // Until joinStream takes the stream over (and after a refusal, while it is held), the other
  // end may give it up: that only ends this stream. Unheard, the error would end the whole
  // tunnel process and every other stream in it.
  opened.socket.on("error", () => {});
  return opened;
}

export function newStreamChannel(control: string): string {
  return `${control}.${randomBytes(STREAM_ID_BYTES).toString("hex")}`;
}

/** A channel the listen side may have picked for a stream of this tunnel, and nothing else. */
export function isStreamChannel(control: string, channel: string): boolean {
  return (
    channel.startsWith(`${control}.`) &&
    STREAM_SUFFIX.test(channel.slice(control.length + 1)) &&
    CHANNEL_PATTERN.test(channel)
  );
}
