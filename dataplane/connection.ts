import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";

/**
 * One accepted TCP connection and the layers a handshake stacks on it (TLS, WebSocket).
 * It knows when it has gone and how to close it all. It knows nothing of handshakes,
 * pairs or splices.
 */
export class Connection {
  readonly id = randomBytes(6).toString("base64url");
  readonly socket: Socket;
  /** Source IP address, for the caps on connections still in their handshake. */
  readonly remoteAddress: string;
  /** Logger bound to this connection's id. */
  readonly log: Logger;
  readonly #layers: Duplex[] = [];
  #isClosed = false;
  /**
   * Listeners, not a promise: a promise and its reactions per side would stay with every idle
   * pair (docs/data-plane.md, "Idle memory").
   */
  #closeListeners: Array<() => void> = [];

  constructor(socket: Socket, logger: Logger) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? "unknown";
    this.log = logger.child({ conn: this.id });
    socket.setNoDelay(true);
    socket.on("error", (error) => this.log.debug({ err: error.message }, "socket error"));
    socket.once("close", this.#markClosed);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /**
   * Runs `listener` once the socket or any layer on it has closed (at once if it has), unless
   * the function returned cancels it first.
   */
  onClose(listener: () => void): () => void {
    if (this.#isClosed) {
      listener();
      return () => {};
    }
    this.#closeListeners.push(listener);
    return () => {
      const index = this.#closeListeners.indexOf(listener);
      if (index >= 0) this.#closeListeners.splice(index, 1);
    };
  }

  readonly #markClosed = () => {
    if (this.#isClosed) return;
    this.#isClosed = true;
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener();
  };

  /** A stream stacked on the socket (a TLS socket, a WebSocket stream): its close is the connection's. */
  addLayer(layer: Duplex): void {
    this.#layers.push(layer);
    layer.once("close", this.#markClosed);
  }

  /** A layer left behind while the TCP connection goes on (the original relay's TLS, once it is over). */
  removeLayer(layer: Duplex): void {
    const index = this.#layers.indexOf(layer);
    if (index >= 0) this.#layers.splice(index, 1);
    layer.off("close", this.#markClosed);
  }

  /** Closes every layer, top first, then the socket. */
  destroy(): void {
    for (const layer of [...this.#layers].reverse()) layer.destroy();
    this.socket.destroy();
  }
}
