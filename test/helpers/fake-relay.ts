import type { Socket } from "node:net";
import {
  type ClientFrame,
  encodeFrame,
  FrameDecoder,
  MAGIC,
  parseClientFrame,
} from "../../protocol/frames.ts";

/**
 * The relay side of a Flock handshake as a fake data plane plays it: checks the magic, sends a
 * challenge, and hands back the party's hello unverified. What to answer is the caller's.
 */
export function readHello(socket: Socket, relayName: string): Promise<ClientFrame> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    let stage: "magic" | "hello" = "magic";
    const onData = (chunk: Buffer) => {
      if (stage === "magic") {
        if (!chunk.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) {
          socket.off("data", onData).destroy();
          return reject(new Error("no Flock magic"));
        }
        chunk = chunk.subarray(MAGIC.length);
        stage = "hello";
        socket.write(encodeFrame({ type: "challenge", version: 1, relay: relayName, nonce: "bm9uY2U" }));
      }
      decoder.push(chunk);
      const value = decoder.next();
      if (value === undefined) return;
      socket.off("data", onData);
      try {
        resolve(parseClientFrame(value));
      } catch (error) {
        socket.destroy();
        reject(error);
      }
    };
    socket.on("data", onData);
  });
}
