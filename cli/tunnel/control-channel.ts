import type { Duplex } from "node:stream";
import type { Channel } from "../../client/connect.ts";
import { backoffMs, isRetryable } from "../../client/retry.ts";
import { FlockError } from "../../protocol/errors.ts";

/**
 * The two ends of a tunnel keep one end-to-end channel open between them, the control
 * channel, and say on it which channel each new stream uses: the data plane pairs two
 * parties per channel name, so concurrent streams need names both ends agree on, and only
 * the end that accepted the connection can pick one. Messages are JSON lines inside the
 * end-to-end TLS (docs/cli.md, "flock tunnel").
 */
export type TunnelMode = "listen" | "forward";

export type ControlMessage =
  | { type: "hello"; version: number; mode: TunnelMode }
  | { type: "open"; channel: string }
  | { type: "reset"; channel: string }
  | { type: "ping" };

export const TUNNEL_PROTOCOL_VERSION = 1;
/** A control line is a short JSON object; anything longer is not a tunnel peer speaking. */
export const MAX_CONTROL_LINE_BYTES = 512;
/** Below the data plane's idle timeout (10 minutes), so an idle tunnel keeps its control channel. */
export const CONTROL_KEEPALIVE_MS = 60_000;

export interface ControlChannelOptions {
  mode: TunnelMode;
  /** Opens the control channel (openChannel with the control channel's name). */
  open: () => Promise<Channel>;
  onMessage: (message: ControlMessage) => void;
  /** Called each time the channel is up and both ends said hello. */
  onUp: () => void;
  log: (line: string) => void;
  keepaliveMs?: number;
}

export interface ControlChannel {
  /** Writes a message if the channel is up; false if it is down (the message is dropped). */
  send(message: ControlMessage): boolean;
  /** Rejects when the tunnel cannot work (both ends in one mode, identity refused). */
  readonly failed: Promise<never>;
  stop(): void;
}

/** Keeps the control channel up: reopens it with backoff whenever it drops, until stopped. */
export function startControlChannel(options: ControlChannelOptions): ControlChannel {
  let socket: Duplex | undefined;
  let ready = false;
  let stopped = false;
  let reject!: (error: Error) => void;
  const failed = new Promise<never>((_, r) => {
    reject = r;
  });
  failed.catch(() => {});
  /** A failure that reopening cannot cure: no more attempts. */
  const fail = (error: Error) => {
    stopped = true;
    socket?.destroy();
    reject(error);
  };
  let wake: (() => void) | undefined;

  const write = (target: Duplex, message: ControlMessage) => {
    target.write(`${JSON.stringify(message)}\n`);
  };

  const session = (channel: Channel) =>
    new Promise<void>((resolve) => {
      const current = channel.socket;
      socket = current;
      const keepalive = setInterval(
        () => write(current, { type: "ping" }),
        options.keepaliveMs ?? CONTROL_KEEPALIVE_MS,
      );
      const readLine = lineReader((line) => {
        const message = parseControlMessage(line);
        if (message === undefined) return;
        if (message.type !== "hello") {
          if (ready) options.onMessage(message);
          return;
        }
        if (message.mode === options.mode) {
          fail(
            new FlockError(
              "CONFIG_INVALID",
              `Both ends of the tunnel to ${channel.peer} run --${options.mode}: one side listens, the other forwards.`,
            ),
          );
          return;
        }
        ready = true;
        options.log(`control channel up with ${channel.peer}`);
        options.onUp();
      });
      current.setEncoding("utf8");
      current.on("data", (text: string) => {
        if (!readLine(text)) {
          options.log(`control channel: a line over ${MAX_CONTROL_LINE_BYTES} bytes; reconnecting`);
          current.destroy();
        }
      });
      current.on("error", () => current.destroy());
      current.on("end", () => current.end());
      current.once("close", () => {
        clearInterval(keepalive);
        ready = false;
        socket = undefined;
        resolve();
      });
      write(current, { type: "hello", version: TUNNEL_PROTOCOL_VERSION, mode: options.mode });
    });

  (async () => {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        const channel = await options.open();
        if (stopped) {
          channel.socket.destroy();
          return;
        }
        attempt = 0;
        await session(channel);
        if (!stopped) options.log("control channel down; reopening");
      } catch (error) {
        // The peer not being there yet is normal (it starts later); a refusal is not.
        if (error instanceof FlockError && error.code !== "CONNECT_TIMEOUT" && !isRetryable(error.code)) {
          fail(error);
          return;
        }
        options.log(`control channel: ${error instanceof Error ? error.message : String(error)}`);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, backoffMs(attempt));
      });
    }
  })();

  return {
    send(message) {
      if (!socket || !ready) return false;
      write(socket, message);
      return true;
    },
    failed,
    stop() {
      stopped = true;
      socket?.destroy();
      wake?.();
    },
  };
}

/** Feeds text in, calls `onLine` per complete line; returns false once a line outgrows the cap. */
function lineReader(onLine: (line: string) => void): (text: string) => boolean {
  let partial = "";
  return (text) => {
    partial += text;
    for (let newline = partial.indexOf("\n"); newline >= 0; newline = partial.indexOf("\n")) {
      onLine(partial.slice(0, newline));
      partial = partial.slice(newline + 1);
    }
    return Buffer.byteLength(partial) <= MAX_CONTROL_LINE_BYTES;
  };
}

/** Undefined for a line that is not a message this version knows: newer peers may say more. */
export function parseControlMessage(line: string): ControlMessage | undefined {
  if (Buffer.byteLength(line) > MAX_CONTROL_LINE_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case "hello":
      return typeof m.version === "number" && (m.mode === "listen" || m.mode === "forward")
        ? { type: "hello", version: m.version, mode: m.mode }
        : undefined;
    case "open":
    case "reset":
      return typeof m.channel === "string" ? { type: m.type, channel: m.channel } : undefined;
    case "ping":
      return { type: "ping" };
    default:
      return undefined;
  }
}
