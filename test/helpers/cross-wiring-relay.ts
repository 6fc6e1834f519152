import type { Server, Socket } from "node:net";
import { createServer } from "node:net";
import { decodeJwt } from "jose";
import { encodeFrame, FrameDecoder, MAGIC, parseClientFrame } from "../../protocol/frames.ts";

/**
 * A relay that does the Flock handshake with each party as a real data plane would (it
 * holds a registered relay's name, so tickets name it), but pairs by its own rule instead
 * of the pair id: `wire(a, b)` picks which two hellos to splice. The end-to-end TLS between
 * them still works (right parties, right CA); only the binding can tell. TCP transport only.
 */
export interface Hello {
  /** `user/party` of the side, its channel, and the socket after PAIRED (with early bytes put back). */
  self: string;
  channel: string;
  socket: Socket;
}

export interface CrossWiringRelay {
  close(): Promise<void>;
}

export async function startCrossWiringRelay(
  relay: { name: string; port: number },
  wire: (a: Hello, b: Hello) => boolean,
): Promise<CrossWiringRelay> {
  const sockets: Socket[] = [];
  const waiting: Hello[] = [];
  const arrive = (hello: Hello) => {
    const match = waiting.findIndex((other) => wire(other, hello) || wire(hello, other));
    if (match < 0) {
      waiting.push(hello);
      return;
    }
    const [other] = waiting.splice(match, 1) as [Hello];
    other.socket.pipe(hello.socket).pipe(other.socket);
    for (const side of [other, hello]) side.socket.resume();
  };
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    const decoder = new FrameDecoder();
    let magic = false;
    const onData = (chunk: Buffer) => {
      if (!magic) {
        if (!chunk.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) return void socket.destroy();
        magic = true;
        chunk = chunk.subarray(MAGIC.length);
        socket.write(encodeFrame({ type: "challenge", version: 1, relay: relay.name, nonce: "bm9uY2U" }));
      }
      decoder.push(chunk);
      const value = decoder.next();
      if (value === undefined) return;
      socket.off("data", onData);
      socket.pause();
      const hello = parseClientFrame(value);
      if (hello.type !== "hello") return void socket.destroy();
      const claims = decodeJwt(hello.ticket) as {
        sub: string;
        peer: string;
        role: "client" | "server";
        pair: string;
        chn: string;
      };
      socket.write(encodeFrame({ type: "paired", peer: claims.peer, role: claims.role, pair: claims.pair }));
      const rest = decoder.rest();
      if (rest.length > 0) socket.unshift(Buffer.from(rest));
      arrive({ self: claims.sub, channel: claims.chn, socket });
    };
    socket.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(relay.port, "127.0.0.1", resolve));
  return {
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
