import type { Server, Socket } from "node:net";
import { createServer } from "node:net";
import * as tls from "node:tls";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openChannel } from "../../client/connect.ts";
import { encodeFrame } from "../../protocol/frames.ts";
import { readHello } from "../helpers/fake-relay.ts";
import type { SystemRelay } from "../helpers/system.ts";
import { issuePartyCertificate, makeCa } from "../helpers/system.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * A data plane that is registered with the worker (so it gets tickets and holds a real
 * relay certificate) but, instead of pairing, ends the handshake itself with PAIRED and
 * then plays the peer in the end-to-end TLS. It cannot hold a certificate from the user's
 * CA, so the party must refuse it, whatever it presents.
 */
const fx = useSystemWithPair({ dataPlane: false });
let relay: SystemRelay;
let impostor: Server;
let presented: { cert: string; key: string };
const impostorSockets: Socket[] = [];

function playThePeer(socket: Socket): void {
  impostorSockets.push(socket);
  socket.on("error", () => {});
  readHello(socket, relay.name).then(
    (hello) => {
      if (hello.type !== "hello") return void socket.destroy();
      const claims = decodeJwt(hello.ticket) as { peer: string; role: "client" | "server"; pair: string };
      socket.write(encodeFrame({ type: "paired", peer: claims.peer, role: claims.role, pair: claims.pair }));
      const options = { cert: presented.cert, key: presented.key, rejectUnauthorized: false };
      const peer =
        claims.role === "client"
          ? new tls.TLSSocket(socket, { isServer: true, requestCert: true, ...options })
          : tls.connect({ socket, ...options });
      // The impostor's own TLS errors decide nothing: the party's error is what is asserted.
      peer.on("error", () => {});
      // Claim success at once: the party must not take the impostor's word for it.
      peer.write(Buffer.from([0x01]));
    },
    () => {},
  );
}

beforeAll(async () => {
  relay = await fx.system.registerRelay("impostor");
  impostor = createServer(playThePeer);
  await new Promise<void>((resolve) => impostor.listen(relay.port, "127.0.0.1", resolve));
  await fx.system.reportLoad(relay);
});
afterAll(async () => {
  for (const s of impostorSockets) s.destroy();
  await new Promise((resolve) => impostor?.close(resolve));
});

describe.each([
  ["alice, the end-to-end TLS client", () => fx.alice],
  ["bob, the end-to-end TLS server", () => fx.bob],
])("a relay standing in for the peer of %s", (_who, party) => {
  it("is refused when it shows a certificate from its own CA naming the peer", async () => {
    const rogue = await makeCa("rogue");
    const peerName = party() === fx.alice ? "bob" : "alice";
    presented = await issuePartyCertificate(rogue, "acme", peerName);
    await expect(openChannel({ identity: party(), deadlineMs: 20_000 })).rejects.toMatchObject({
      code: "PEER_IDENTITY_MISMATCH",
    });
  });

  it("is refused when it shows its own relay certificate, signed by the relay CA", async () => {
    presented = { cert: relay.certPem, key: relay.keyPem };
    await expect(openChannel({ identity: party(), deadlineMs: 20_000 })).rejects.toMatchObject({
      code: "PEER_IDENTITY_MISMATCH",
    });
  });
});
