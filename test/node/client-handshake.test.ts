import { createPrivateKey, verify, X509Certificate } from "node:crypto";
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer, connect as netConnect } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { relayHandshake } from "../../client/handshake.ts";
import { fromBase64Url, sha256, toBase64Url } from "../../protocol/encoding.ts";
import type { Frame } from "../../protocol/frames.ts";
import {
  encodeFrame,
  FrameDecoder,
  helloProofInput,
  MAGIC,
  parseClientFrame,
} from "../../protocol/frames.ts";
import { issuePartyCertificate, makeCa } from "../helpers/system.ts";

const TICKET = "header.payload.signature";
const NONCE = toBase64Url(new Uint8Array(32).fill(7));

let credentials: Parameters<typeof relayHandshake>[1];
let relayCertDer: Uint8Array;

beforeAll(async () => {
  const relay = await issuePartyCertificate(await makeCa("relay-test"), "acme", "alice");
  relayCertDer = new Uint8Array(new X509Certificate(relay.cert).raw);
  credentials = { ticket: TICKET, relayCertDer, relayKey: createPrivateKey(relay.key) };
});

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A fake data plane: checks MAGIC, sends a challenge, hands the hello to `script`. */
async function fakeRelay(script: (socket: Socket, hello: unknown) => void): Promise<Socket> {
  const server = createServer((socket) => {
    sockets.push(socket);
    const decoder = new FrameDecoder();
    let magicSeen = false;
    socket.on("data", (chunk) => {
      if (!magicSeen) {
        expect([...chunk.subarray(0, 4)]).toEqual([...MAGIC]);
        magicSeen = true;
        socket.write(encodeFrame({ type: "challenge", version: 1, relay: "r1", nonce: NONCE }));
        chunk = chunk.subarray(4);
      }
      decoder.push(chunk);
      const hello = decoder.next();
      if (hello !== undefined) script(socket, hello);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = netConnect((server.address() as AddressInfo).port, "127.0.0.1");
  sockets.push(client);
  await new Promise((resolve) => client.once("connect", resolve));
  return client;
}

const frames = (...list: Frame[]) => Buffer.concat(list.map((f) => encodeFrame(f)));

describe("relay handshake", () => {
  it("sends a hello whose proof verifies against the relay certificate over nonce and ticket hash", async () => {
    let hello: unknown;
    const client = await fakeRelay((socket, frame) => {
      hello = frame;
      socket.write(frames({ type: "paired", peer: "acme/bob", role: "client", pair: "p" }));
    });
    await relayHandshake(client, credentials);
    const parsed = parseClientFrame(hello);
    if (parsed.type !== "hello" || !parsed.cert || !parsed.sig)
      throw new Error("not a ticket hello with proof");
    expect(parsed.ticket).toBe(TICKET);
    expect(new Uint8Array(Buffer.from(parsed.cert, "base64"))).toEqual(relayCertDer);
    const input = helloProofInput(NONCE, toBase64Url(await sha256(TICKET)));
    const publicKey = new X509Certificate(Buffer.from(parsed.cert, "base64")).publicKey;
    expect(verify("sha256", input, publicKey, fromBase64Url(parsed.sig))).toBe(true);
    expect(verify("sha256", helloProofInput("other-nonce", "x"), publicKey, fromBase64Url(parsed.sig))).toBe(
      false,
    );
  });

  it("sends a direct hello whose proof is bound to dest and tag (seed-compatible mode, no ticket)", async () => {
    let hello: unknown;
    const client = await fakeRelay((socket, frame) => {
      hello = frame;
      socket.write(frames({ type: "paired", peer: "acme/bob", role: "client", pair: "direct-p" }));
    });
    const { ticket: _ticket, ...key } = credentials as { ticket: string } & typeof credentials;
    await relayHandshake(client, { ...key, direct: { dest: "bob", tag: "t1" } });
    const parsed = parseClientFrame(hello);
    if (parsed.type !== "direct" || !parsed.cert || !parsed.sig)
      throw new Error("not a direct hello with proof");
    expect([parsed.dest, parsed.tag]).toEqual(["bob", "t1"]);
    const publicKey = new X509Certificate(Buffer.from(parsed.cert, "base64")).publicKey;
    const input = helloProofInput(NONCE, "direct:bob:t1");
    expect(verify("sha256", input, publicKey, fromBase64Url(parsed.sig))).toBe(true);
  });

  it("reports waiting, resolves on paired and keeps the peer's bytes that came in the same chunk", async () => {
    const peerBytes = Buffer.from([0x16, 0x03, 0x01, 0xff, 0x00]);
    const client = await fakeRelay((socket) => {
      socket.write(
        Buffer.concat([
          frames({ type: "waiting" }, { type: "paired", peer: "acme/bob", role: "server", pair: "p1" }),
          peerBytes,
        ]),
      );
    });
    let waited = 0;
    const paired = await relayHandshake(client, credentials, { onWaiting: () => waited++ });
    expect(paired).toEqual({ type: "paired", peer: "acme/bob", role: "server", pair: "p1" });
    expect(waited).toBe(1);
    const first = await new Promise<Buffer>((resolve) => client.once("data", resolve));
    expect([...first]).toEqual([...peerBytes]);
  });

  it("raises the data plane's error code as a FlockError", async () => {
    const client = await fakeRelay((socket) => {
      socket.end(
        frames({
          type: "error",
          code: "TICKET_EXPIRED",
          message: "The ticket has expired; fetch a new one.",
        }),
      );
    });
    await expect(relayHandshake(client, credentials)).rejects.toMatchObject({
      code: "TICKET_EXPIRED",
      message: "The ticket has expired; fetch a new one.",
    });
  });

  it("refuses a relay frame of the wrong shape with BAD_FRAME", async () => {
    const client = await fakeRelay((socket) => {
      socket.write(frames({ type: "paired", peer: "acme/bob", role: "boss", pair: "p" } as unknown as Frame));
    });
    await expect(relayHandshake(client, credentials)).rejects.toMatchObject({ code: "BAD_FRAME" });
    expect(client.destroyed).toBe(true);
  });

  it("refuses a relay of another protocol version", async () => {
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.write(encodeFrame({ type: "challenge", version: 2, relay: "r1", nonce: NONCE }));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = netConnect((server.address() as AddressInfo).port, "127.0.0.1");
    sockets.push(client);
    await expect(relayHandshake(client, credentials)).rejects.toMatchObject({ code: "UNSUPPORTED_VERSION" });
  });

  it("fails with DIAL_FAILED when the relay hangs up before pairing", async () => {
    const client = await fakeRelay((socket) => socket.end());
    await expect(relayHandshake(client, credentials)).rejects.toMatchObject({ code: "DIAL_FAILED" });
  });
});
