import type { Socket } from "node:net";
import type { Logger } from "pino";
import { encodeFrame } from "../../protocol/frames.ts";
import type { DataPlaneLimits } from "../config.ts";
import { Connection } from "../connection.ts";
import type { DataPlaneMetrics } from "../metrics.ts";
import { Tally } from "../tally.ts";

export interface HandshakeGateOptions {
  limits: Pick<DataPlaneLimits, "maxHandshakingConnections" | "maxHandshakingPerIp" | "errorLingerMs">;
  metrics: DataPlaneMetrics;
  logger: Logger;
}

/**
 * The door of the data plane. Before authentication a connection costs memory (TLS,
 * buffers) for nothing proven, so connections still in their handshake are capped, in all
 * and per source address; past a cap a connection is refused with OVER_CAPACITY before a
 * byte of it is read. The gate also keeps every connection it let in until it closes, so
 * a stop can close them all.
 */
export class HandshakeGate {
  readonly #options: HandshakeGateOptions;
  readonly #handshaking = new Set<Connection>();
  readonly #handshakingByIp = new Tally();
  readonly #open = new Set<Connection>();
  readonly #refusedEarly = new Set<Socket>();
  #admitting = true;

  constructor(options: HandshakeGateOptions) {
    this.#options = options;
  }

  /** Lets a new connection in, or refuses it (and returns undefined) when a cap is reached. */
  enter(socket: Socket): Connection | undefined {
    const { limits } = this.#options;
    const address = socket.remoteAddress ?? "unknown";
    if (this.#handshaking.size >= limits.maxHandshakingConnections) {
      this.#refuseEarly(
        socket,
        "The data plane has too many connections still in their handshake; retry shortly.",
      );
      return undefined;
    }
    if (this.#handshakingByIp.get(address) >= limits.maxHandshakingPerIp) {
      this.#refuseEarly(
        socket,
        "This address has too many connections still in their handshake; retry shortly.",
      );
      return undefined;
    }
    const connection = new Connection(socket, this.#options.logger);
    this.#handshaking.add(connection);
    this.#handshakingByIp.add(connection.remoteAddress, 1);
    this.#open.add(connection);
    void connection.closed.then(() => {
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

  #endHandshake(connection: Connection): void {
    if (!this.#handshaking.delete(connection)) return;
    this.#handshakingByIp.add(connection.remoteAddress, -1);
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
