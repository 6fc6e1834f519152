import type { AddressInfo, Socket } from "node:net";
import { createServer } from "node:net";
import { formatHostPort } from "../../protocol/host-port.ts";
import { startControlChannel } from "./control-channel.ts";
import type { JoinedStream } from "./join-stream.ts";
import { describeEnd, joinStream } from "./join-stream.ts";
import type { Tunnel, TunnelOptions } from "./tunnel-stream.ts";
import { newStreamChannel, openTunnelChannel, tunnelLimits } from "./tunnel-stream.ts";

export interface ListenTunnel extends Tunnel {
  address: AddressInfo;
}

interface Opening {
  local: Socket;
  /**
   * The other end refused the stream: reset the local socket and free the opening slot now;
   * the channel, if it still opens, is dropped.
   */
  cancel(): void;
}

/**
 * `flock tunnel --listen`: every local connection gets a fresh channel name, announced to
 * the forward end on the control channel, and both ends open that channel; the local socket
 * stays paused (nothing read) until its stream is up.
 */
export async function startListenTunnel(
  options: TunnelOptions,
  listen: { host: string; port: number },
): Promise<ListenTunnel> {
  const limits = tunnelLimits(options);
  const opening = new Map<string, Opening>();
  const open = new Map<string, JoinedStream>();
  const waiting: Socket[] = [];

  const control = startControlChannel({
    mode: "listen",
    open: () => openTunnelChannel(options, options.channel),
    log: options.log,
    ...(limits.keepaliveMs ? { keepaliveMs: limits.keepaliveMs } : {}),
    // Announcements sent while the channel was down are lost: repeat them; the forward end
    // ignores a channel it already opens.
    onUp: () => {
      for (const channel of opening.keys()) control.send({ type: "open", channel });
    },
    onMessage: (message) => {
      if (message.type !== "reset") return;
      opening.get(message.channel)?.cancel();
      open.get(message.channel)?.resetByPeer();
    },
  });

  const startNext = () => {
    while (opening.size < limits.maxOpeningStreams) {
      const local = waiting.shift();
      if (!local) return;
      if (!local.destroyed) startStream(local);
    }
  };

  const startStream = (local: Socket) => {
    const channel = newStreamChannel(options.channel);
    /** Leaves the opening set once; false if it had already left (cancelled). */
    const settle = () => {
      if (!opening.has(channel)) return false;
      opening.delete(channel);
      startNext();
      return true;
    };
    opening.set(channel, {
      local,
      cancel: () => {
        local.resetAndDestroy();
        if (settle()) options.log(`stream ${channel} refused by the forward end`);
      },
    });
    control.send({ type: "open", channel });
    options.log(`stream ${channel} opening for ${programAddress(local)}`);
    const sayReset = () => control.send({ type: "reset", channel });
    openTunnelChannel(options, channel).then(
      ({ socket }) => {
        if (!opening.has(channel) || local.destroyed) {
          settle();
          socket.destroy();
          sayReset();
          return;
        }
        const joined = joinStream(local, socket, sayReset, limits.streamIdleTimeoutMs);
        open.set(channel, joined);
        options.log(`stream ${channel} open`);
        settle();
        joined.done.then((result) => {
          open.delete(channel);
          options.log(describeEnd(channel, result));
        });
      },
      (error: unknown) => {
        if (!settle()) return;
        options.log(`stream ${channel} failed: ${error instanceof Error ? error.message : String(error)}`);
        local.resetAndDestroy();
        sayReset();
      },
    );
  };

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (local) => {
    // One program's connection failing must not end a tunnel others share, nor pass unseen:
    // heard here for the socket's whole life. joinStream resets the stream for it, so the
    // forward end resets the service's socket; before that nothing is read from the socket, and
    // a stream that opens for a socket gone meanwhile is reset at once.
    const from = programAddress(local);
    local.on("error", (error: NodeJS.ErrnoException) => {
      options.log(`local connection from ${from} failed: ${error.code ?? error.message}`);
    });
    if (opening.size < limits.maxOpeningStreams) startStream(local);
    else waiting.push(local);
  });
  // Past the limit Node closes new connections as soon as they are accepted.
  server.maxConnections = limits.maxStreams;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });

  return {
    address: server.address() as AddressInfo,
    streams: () => opening.size + open.size + waiting.length,
    failed: control.failed,
    async stop() {
      control.stop();
      const closed = new Promise((resolve) => server.close(resolve));
      for (const stream of open.values()) stream.stop();
      for (const { local } of opening.values()) local.resetAndDestroy();
      for (const local of waiting.splice(0)) local.resetAndDestroy();
      await closed;
    },
  };
}

/** Where a program connected from, as HOST:PORT (an IPv6 host in brackets) for status lines. */
function programAddress(local: Socket): string {
  return formatHostPort({ host: local.remoteAddress ?? "?", port: local.remotePort ?? 0 });
}
