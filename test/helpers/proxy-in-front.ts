import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer } from "node:net";

/** A TCP listener on 127.0.0.1 that gives each party connection its own leg to the data plane. */
export interface ProxyInFront {
  port: number;
  /** Destroys every leg still open, then stops listening. */
  close(): Promise<void>;
}

/**
 * `carry` wires the two legs of each connection; errors on them are expected and swallowed.
 * `listenPort`: a registered relay's port, so the worker's tickets send parties through it.
 */
export async function startProxyInFront(
  target: { port: number },
  carry: (party: Socket, relay: Socket) => void,
  listenPort = 0,
): Promise<ProxyInFront> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((party) => {
    const relay = connect(target.port, "127.0.0.1");
    for (const s of [party, relay]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    carry(party, relay);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
