import type { Socket } from "node:net";
import type { Logger } from "pino";
import { encodeFrame } from "../../protocol/frames.ts";
import type { DataPlaneLimits } from "../config.ts";
import { Connection } from "../connection.ts";
import type { DataPlaneMetrics } from "../metrics.ts";
import { HANDSHAKE_EVICTED } from "../metrics.ts";
import { sourcePrefix } from "./source-prefix.ts";

export interface HandshakeGateOptions {
  limits: Pick<
    DataPlaneLimits,
    | "maxHandshakingConnections"
    | "maxHandshakingPerPrefix"
    | "handshakePrefixBitsV4"
    | "handshakePrefixBitsV6"
    | "errorLingerMs"
  >;
  metrics: DataPlaneMetrics;
  logger: Logger;
}

/**
 * The door of the data plane. Before authentication a connection costs memory (TLS,
 * buffers) for nothing proven, so connections still in their handshake are capped: per
 * source network (an IPv4 /24, an IPv6 /64) and in all. Past its network's cap a
 * connection is refused with OVER_CAPACITY before a byte of it is read. When the pool as a
 * whole is full, a newcomer takes the place of the oldest handshake of the busiest network,
 * unless its own network is the busiest: a flood from many networks cannot shut out a party
 * from any other, and each network keeps a fair share. Authenticated sides leave the pool,
 * so a flood never touches pairing. The gate also keeps every connection it let in until it
 * closes, so a stop can close them all.
 */
export class HandshakeGate {
  readonly #options: HandshakeGateOptions;
  /** Each connection still in its handshake, with its source network. */
  readonly #handshaking = new Map<Connection, string>();
  /** The same, by network, oldest first. */
  readonly #byPrefix = new Map<string, Set<Connection>>();
  readonly #open = new Set<Connection>();
  readonly #refusedEarly = new Set<Socket>();
  #admitting = true;

  constructor(options: HandshakeGateOptions) {
    this.#options = options;
  }

  /** Lets a new connection in, or refuses it (and returns undefined) when a cap is reached. */
  enter(socket: Socket): Connection | undefined {
    const { limits } = this.#options;
    const prefix = sourcePrefix(
      socket.remoteAddress ?? "unknown",
      limits.handshakePrefixBitsV4,
      limits.handshakePrefixBitsV6,
    );
    const fromPrefix = this.#byPrefix.get(prefix)?.size ?? 0;
    if (fromPrefix >= limits.maxHandshakingPerPrefix) {
      this.#refuseEarly(
        socket,
        `The network ${prefix} has too many connections still in their handshake; retry shortly.`,
      );
      return undefined;
    }
    if (this.#handshaking.size >= limits.maxHandshakingConnections && !this.#evictFromBusiest(fromPrefix)) {
      this.#refuseEarly(
        socket,
        "The data plane has too many connections still in their handshake; retry shortly.",
      );
      return undefined;
    }
    const connection = new Connection(socket, this.#options.logger);
    this.#handshaking.set(connection, prefix);
    let group = this.#byPrefix.get(prefix);
    if (!group) {
      group = new Set();
      this.#byPrefix.set(prefix, group);
    }
    group.add(connection);
    this.#open.add(connection);
    connection.onClose(() => {
      this.#endHandshake(connection);
      this.#open.delete(connection);
    });
    return connection;
  }

  /** The connection's party is authenticated: it no longer counts as handshaking. */
  authenticated(connection: Connection): void {
    this.#endHandshake(connection);
  }

  /** Draining: hellos still in flight get DRAINING (the listener is closed elsewhere). */
  stopAdmitting(): void {
    this.#admitting = false;
  }

  get admitting(): boolean {
    return this.#admitting;
  }

  /**
   * Connections let in and not yet closed, in any state (handshaking, waiting, spliced,
   * lingering). A kernel splice closes its pair's JS sockets when it takes them over.
   */
  get open(): number {
    return this.#open.size;
  }

  closeAll(): void {
    for (const connection of this.#open) connection.destroy();
    for (const socket of this.#refusedEarly) socket.destroy();
  }

  /**
   * Makes room in a full pool for a newcomer whose network holds `fromPrefix` handshakes:
   * lets go of the oldest handshake of the network holding the most, if that is more.
   * A scan over the networks present: at most maxHandshakingConnections of them.
   */
  #evictFromBusiest(fromPrefix: number): boolean {
    let busiest: Set<Connection> | undefined;
    for (const group of this.#byPrefix.values()) {
      if (busiest === undefined || group.size > busiest.size) busiest = group;
    }
    const oldest = busiest?.values().next().value;
    if (busiest === undefined || oldest === undefined || busiest.size <= fromPrefix) return false;
    this.#endHandshake(oldest);
    this.#options.metrics.errors.inc({ code: HANDSHAKE_EVICTED });
    oldest.log.debug("handshake evicted to make room");
    oldest.destroy();
    return true;
  }

  #endHandshake(connection: Connection): void {
    const prefix = this.#handshaking.get(connection);
    if (prefix === undefined) return;
    this.#handshaking.delete(connection);
    const group = this.#byPrefix.get(prefix);
    group?.delete(connection);
    if (group?.size === 0) this.#byPrefix.delete(prefix);
  }

  #refuseEarly(socket: Socket, message: string): void {
    this.#options.metrics.errors.inc({ code: "OVER_CAPACITY" });
    this.#refusedEarly.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(linger);
      this.#refusedEarly.delete(socket);
    });
    // Read and drop what the client sends, so closing does not RST the frame away.
    socket.resume();
    socket.end(encodeFrame({ type: "error", code: "OVER_CAPACITY", message }));
    const linger = setTimeout(() => socket.destroy(), this.#options.limits.errorLingerMs);
  }
}
