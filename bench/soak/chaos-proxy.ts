/**
 * A TCP forwarder in front of each data plane, so the soak can cut a party's connection in
 * the middle of a stream as a broken network would: with a reset (RST both ways) or with a
 * clean close (FIN both ways, which a TLS that takes a transport end as a stream end cannot
 * tell from a finished stream). Each listener keeps its port while the data plane behind it
 * restarts on a new one, as a load balancer would.
 */
import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer } from "node:net";

export type CutKind = "reset" | "fin";

interface Forwarded {
  client: Socket;
  upstream: Socket;
  /** Bytes moved both ways so far. */
  bytes: number;
}

interface Listener {
  server: Server;
  target: number;
}

/** A cut only counts when it lands in the middle of a stream, not in a handshake. */
export interface CutRequest {
  kind: CutKind;
  /** A connection must have moved this many bytes to be cut. */
  minBytes: number;
  /** How long to wait for such a connection. */
  waitMs: number;
  random: () => number;
}

/** Long enough for both ends to answer a FIN with their own. */
const FIN_CUT_LINGER_MS = 30_000;

/**
 * Sends a FIN to both ends and reads on until each closes. Closing a socket with unread
 * bytes would make the kernel send a RST instead, and then the cut is not a clean end.
 */
function finishEarly(client: Socket, upstream: Socket): void {
  client.unpipe(upstream);
  upstream.unpipe(client);
  for (const socket of [client, upstream]) {
    socket.removeAllListeners("error");
    socket.on("error", () => socket.destroy());
    socket.on("data", () => {});
    socket.once("end", () => socket.destroy());
    socket.end();
    setTimeout(() => socket.destroy(), FIN_CUT_LINGER_MS).unref();
  }
}

export class ChaosProxy {
  readonly #listeners = new Map<string, Listener>();
  readonly #live = new Set<Forwarded>();
  /** Every socket still open, cut ones included, so close() does not wait for their linger. */
  readonly #sockets = new Set<Socket>();

  /** Listens on 127.0.0.1:`port` (0 picks one) and forwards to 127.0.0.1:`target`. */
  async listen(name: string, port: number, target: number): Promise<number> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) =>
      this.#forward(name, client),
    );
    this.#listeners.set(name, { server, target });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  /** The data plane behind `name` restarted on another port: new connections go there. */
  retarget(name: string, target: number): void {
    const listener = this.#listeners.get(name);
    if (listener) listener.target = target;
  }

  /** Cuts one connection that has moved at least `minBytes`; false when none came within `waitMs`. */
  async cut(request: CutRequest): Promise<boolean> {
    const deadline = Date.now() + request.waitMs;
    for (;;) {
      const candidates = [...this.#live].filter((f) => f.bytes >= request.minBytes);
      const chosen = candidates[Math.floor(request.random() * candidates.length)];
      if (chosen) {
        this.#live.delete(chosen);
        if (request.kind === "reset") {
          chosen.client.resetAndDestroy();
          chosen.upstream.resetAndDestroy();
        } else {
          finishEarly(chosen.client, chosen.upstream);
        }
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.#live.clear();
    await Promise.all(
      [...this.#listeners.values()].map(({ server }) => new Promise((resolve) => server.close(resolve))),
    );
  }

  #forward(name: string, client: Socket): void {
    const target = this.#listeners.get(name)?.target ?? 0;
    const upstream = connect({ host: "127.0.0.1", port: target, allowHalfOpen: true, noDelay: true });
    const forwarded: Forwarded = { client, upstream, bytes: 0 };
    this.#live.add(forwarded);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    }
    const count = (chunk: Buffer) => {
      forwarded.bytes += chunk.length;
    };
    client.on("data", count);
    upstream.on("data", count);
    // A reset on one side is a reset on the other, as on a real path; an end passes on as an end.
    const fail = () => {
      this.#live.delete(forwarded);
      if (!client.destroyed) client.resetAndDestroy();
      if (!upstream.destroyed) upstream.resetAndDestroy();
    };
    client.on("error", fail);
    upstream.on("error", fail);
    const closed = () => {
      if (client.destroyed && upstream.destroyed) this.#live.delete(forwarded);
    };
    client.on("close", closed);
    upstream.on("close", closed);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
