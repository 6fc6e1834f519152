import type { Socket } from "node:net";
import { connect as connectTcp } from "node:net";
import type { Duplex } from "node:stream";
import { formatHostPort } from "../../protocol/host-port.ts";
import { startControlChannel } from "./control-channel.ts";
import { describeEnd, joinStream, RESET_HOLD_MS } from "./join-stream.ts";
import type { Tunnel, TunnelOptions } from "./tunnel-stream.ts";
import { isStreamChannel, openTunnelChannel, tunnelLimits } from "./tunnel-stream.ts";

interface Stream {
  cancelled: boolean;
  /** The listen end reset the stream. */
  resetByPeer?: () => void;
  stop?: () => void;
}

/**
 * `flock tunnel --forward`: opens each channel the listen end announces, then connects it
 * to the local service. The stream is paired before the local connection is made, so an
 * announcement that never pairs costs the service nothing; bytes the far program sent
 * meanwhile wait in the stream.
 */
export function startForwardTunnel(options: TunnelOptions, target: { host: string; port: number }): Tunnel {
  const limits = tunnelLimits(options);
  const streams = new Map<string, Stream>();

  const control = startControlChannel({
    mode: "forward",
    open: () => openTunnelChannel(options, options.channel),
    log: options.log,
    ...(limits.keepaliveMs ? { keepaliveMs: limits.keepaliveMs } : {}),
    onUp: () => {},
    onMessage: (message) => {
      if (message.type === "reset") {
        const stream = streams.get(message.channel);
        if (stream) {
          stream.cancelled = true;
          if (stream.resetByPeer) stream.resetByPeer();
          // Still opening: its slot is free now; the channel is dropped if it opens later.
          else streams.delete(message.channel);
        }
      } else if (message.type === "open") {
        accept(message.channel);
      }
    },
  });

  const accept = (channel: string) => {
    if (!isStreamChannel(options.channel, channel)) {
      options.log(`ignored a stream channel outside this tunnel: ${JSON.stringify(channel)}`);
      return;
    }
    if (streams.has(channel)) return;
    const sayReset = () => control.send({ type: "reset", channel });
    if (streams.size >= limits.maxStreams) {
      options.log(`stream ${channel} refused: ${limits.maxStreams} streams are open`);
      sayReset();
      return;
    }
    const stream: Stream = { cancelled: false };
    streams.set(channel, stream);
    const finish = (line: string) => {
      streams.delete(channel);
      options.log(line);
    };
    openTunnelChannel(options, channel)
      .then(async ({ socket }) => {
        if (stream.cancelled) {
          socket.destroy();
          return finish(`stream ${channel} cancelled by the listen end`);
        }
        stream.resetByPeer = stream.stop = () => socket.destroy();
        const local = await connectLocal(target, socket);
        if ("streamGone" in local) {
          if (stream.cancelled) return finish(`stream ${channel} cancelled by the listen end`);
          sayReset();
          return finish(
            `stream ${channel} ended before the connection to ${formatHostPort(target)} was made`,
          );
        }
        if ("refused" in local) {
          // Held open until the listen end, told on the control channel, drops it: dropped
          // first, it could arrive there as a clean end instead of a reset (see join-stream.ts).
          sayReset();
          socket.once("end", () => socket.destroy());
          socket.resume();
          setTimeout(() => socket.destroy(), RESET_HOLD_MS).unref();
          return finish(`stream ${channel}: ${formatHostPort(target)} refused it (${local.refused})`);
        }
        const joined = joinStream(local.socket, socket, sayReset, limits.streamIdleTimeoutMs);
        stream.resetByPeer = joined.resetByPeer;
        stream.stop = joined.stop;
        if (stream.cancelled) joined.resetByPeer();
        finish(describeEnd(channel, await joined.done));
      })
      .catch((error: unknown) => {
        sayReset();
        finish(`stream ${channel} failed: ${error instanceof Error ? error.message : String(error)}`);
      });
  };

  return {
    streams: () => streams.size,
    failed: control.failed,
    async stop() {
      control.stop();
      for (const stream of streams.values()) {
        stream.cancelled = true;
        stream.stop?.();
      }
    },
  };
}

/**
 * How connecting to the local service ended: connected, refused (the error's code), or given up
 * because the stream died first (its other end reset it, this end stopped, or it broke).
 */
export type LocalConnection = { socket: Socket } | { refused: string } | { streamGone: true };

/** Connects to the service for `remote`; gives up early if `remote` dies meanwhile. */
export function connectLocal(
  target: { host: string; port: number },
  remote: Duplex,
): Promise<LocalConnection> {
  return new Promise((resolve) => {
    if (remote.destroyed) return resolve({ streamGone: true });
    const local = connectTcp({ host: target.host, port: target.port, allowHalfOpen: true });
    const onRemoteClose = () => local.destroy();
    remote.once("close", onRemoteClose);
    local.once("connect", () => {
      remote.off("close", onRemoteClose);
      resolve({ socket: local });
    });
    local.once("error", (error: NodeJS.ErrnoException) => {
      remote.off("close", onRemoteClose);
      resolve({ refused: error.code ?? error.message });
    });
    // After an error this changes nothing; without one, only onRemoteClose closes a socket
    // that is still connecting.
    local.once("close", () => resolve({ streamGone: true }));
  });
}
