import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer } from "node:net";

/** A plain TCP proxy in front of a data plane, which can reset every connection it carries at once. */
export interface TcpProxy {
  port: number;
  /** A TCP RST on both legs of every connection, as a relay that restarts or fails sends; answers how many. */
  resetAll(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(listenPort: number, target: { port: number }): Promise<TcpProxy> {
  const legs = new Set<[Socket, Socket]>();
  const server: Server = createServer((party) => {
    const relay = connect(target.port, "127.0.0.1");
    const pair: [Socket, Socket] = [party, relay];
    legs.add(pair);
    for (const s of pair) {
      s.setNoDelay(true);
      s.on("error", () => {});
      s.on("close", () => {
        legs.delete(pair);
        party.destroy();
        relay.destroy();
      });
    }
    party.pipe(relay);
    relay.pipe(party);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    resetAll: () => {
      const count = legs.size;
      for (const [party, relay] of [...legs]) {
        party.resetAndDestroy();
        relay.resetAndDestroy();
      }
      return count;
    },
    close: async () => {
      for (const [party, relay] of legs) {
        party.destroy();
        relay.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
