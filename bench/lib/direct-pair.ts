import type { AddressInfo, Socket } from "node:net";
import { createServer, connect as netConnect } from "node:net";
import type { TLSSocket } from "node:tls";
import type { IdentityMaterials } from "../../client/identity.ts";
import { securePeerChannel } from "../../client/peer-tls.ts";

/**
 * Two endpoints of `user` with the SDK's end-to-end mTLS over one loopback TCP connection, no
 * relay (Nagle off, as the SDK dials): what a relayed pair is compared with. Both ends are in
 * this process; `close` destroys both and stops the listener.
 */
export async function directPair(
  user: string,
  alice: IdentityMaterials,
  bob: IdentityMaterials,
): Promise<{ a: TLSSocket; b: TLSSocket; close: () => void }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const raw = netConnect((server.address() as AddressInfo).port, "127.0.0.1");
  raw.setNoDelay(true);
  const [a, b] = await Promise.all([
    securePeerChannel(raw, "client", alice, { user, party: "bob" }),
    accepted.then((s) => {
      s.setNoDelay(true);
      return securePeerChannel(s, "server", bob, { user, party: "alice" });
    }),
  ]);
  return {
    a: a.socket,
    b: b.socket,
    close: () => {
      a.socket.destroy();
      b.socket.destroy();
      server.close();
    },
  };
}
