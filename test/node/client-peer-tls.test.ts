import { X509Certificate } from "node:crypto";
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer, connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import * as tls from "node:tls";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import type { RelayStream } from "../../client/dial.ts";
import { webSocketByteStream } from "../../client/dial.ts";
import type { PeerCredentials } from "../../client/peer-tls.ts";
import { securePeerChannel } from "../../client/peer-tls.ts";
import { SetupSilence } from "../../client/setup-silence.ts";
import { WS_MAX_MESSAGE_BYTES } from "../../protocol/wire.ts";
import type { TestCa } from "../helpers/system.ts";
import { issuePartyCertificate, makeCa } from "../helpers/system.ts";

let userCa: TestCa;
let alice: PeerCredentials;
let bob: PeerCredentials;

const credentials = async (ca: TestCa, user: string, party: string, trust = ca): Promise<PeerCredentials> => {
  const leaf = await issuePartyCertificate(ca, user, party);
  return { userCa: trust.pem, partyCert: leaf.cert, partyKey: leaf.key };
};

beforeAll(async () => {
  userCa = await makeCa("acme");
  alice = await credentials(userCa, "acme", "alice");
  bob = await credentials(userCa, "acme", "bob");
});

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Two ends of one byte stream, as a relay splice would give them: a TCP connection or a WebSocket. */
async function streamPair(kind: "tcp" | "ws"): Promise<[RelayStream, RelayStream]> {
  if (kind === "tcp") {
    const server: Server = createServer();
    cleanups.push(() => new Promise((done) => server.close(() => done())));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const client = netConnect((server.address() as AddressInfo).port, "127.0.0.1");
    cleanups.push(() => void client.destroy());
    const serverSide = await accepted;
    cleanups.push(() => void serverSide.destroy());
    return [client, serverSide];
  }
  const { client, server } = await webSockets();
  return [webSocketByteStream(client), webSocketByteStream(server)];
}

/** Both ends of a fresh WebSocket on a server of its own, each stopped after the test. */
async function webSockets(): Promise<{ client: WebSocket; server: WebSocket }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  cleanups.push(() => new Promise((done) => wss.close(() => done())));
  await new Promise((resolve) => wss.once("listening", resolve));
  const server = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
  cleanups.push(() => client.terminate());
  await new Promise((resolve) => client.once("open", resolve));
  return { client, server: await server };
}

function readAll(socket: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.once("end", () => resolve(Buffer.concat(chunks).toString()));
    socket.once("error", reject);
  });
}

describe.each(["tcp", "ws"] as const)("end-to-end mTLS over %s", (kind) => {
  const secure = async (clientCreds: PeerCredentials, serverCreds: PeerCredentials) => {
    const [a, b] = await streamPair(kind);
    const results = await Promise.allSettled([
      securePeerChannel(a, "client", clientCreds, { user: "acme", party: "bob" }).then((p) => p.socket),
      securePeerChannel(b, "server", serverCreds, { user: "acme", party: "alice" }).then((p) => p.socket),
    ]);
    for (const r of results) if (r.status === "fulfilled") cleanups.push(() => void r.value.destroy());
    return results;
  };
  /** Alice and bob secured over a fresh stream pair; `raw` is alice's stream under her TLS. */
  const securedPair = async () => {
    const [raw, b] = await streamPair(kind);
    const [client, server] = await Promise.all([
      securePeerChannel(raw, "client", alice, { user: "acme", party: "bob" }).then((p) => p.socket),
      securePeerChannel(b, "server", bob, { user: "acme", party: "alice" }).then((p) => p.socket),
    ]);
    cleanups.push(
      () => void client.destroy(),
      () => void server.destroy(),
    );
    return { raw, client, server };
  };

  it("verifies both names, carries bytes both ways and propagates half-close", async () => {
    const [client, server] = (await secure(alice, bob)).map((r) => {
      if (r.status === "rejected") throw r.reason;
      return r.value as TLSSocket;
    }) as [TLSSocket, TLSSocket];
    const serverGot = readAll(server);
    client.end("question");
    expect(await serverGot).toBe("question");
    // The client's write side is closed; its read side still works.
    const clientGot = readAll(client);
    server.end("answer");
    expect(await clientGot).toBe("answer");
  });

  it("uses bytes already read and put back on the stream (the ClientHello that came with PAIRED)", async () => {
    const [a, b] = await streamPair(kind);
    const client = securePeerChannel(a, "client", alice, { user: "acme", party: "bob" }).then(
      (p) => p.socket,
    );
    const clientHello = await new Promise<Buffer>((resolve) => b.once("data", resolve));
    b.pause();
    b.unshift(clientHello);
    const [c, s] = await Promise.all([
      client,
      securePeerChannel(b, "server", bob, { user: "acme", party: "alice" }).then((p) => p.socket),
    ]);
    cleanups.push(
      () => void c.destroy(),
      () => void s.destroy(),
    );
    const got = readAll(s);
    c.end("after the hello");
    expect(await got).toBe("after the hello");
  });

  it("checks the peer itself: Node never builds the peer chain as JS objects on either side", async () => {
    // OpenSSL trusts nothing in the end-to-end context; were it given the user CA, a passing
    // OpenSSL check makes Node's client call getPeerCertificate(true) on every handshake.
    const detailed = vi.spyOn(tls.TLSSocket.prototype, "getPeerCertificate");
    cleanups.push(() => detailed.mockRestore());
    const [client, server] = await secure(alice, bob);
    expect(client.status).toBe("fulfilled");
    expect(server.status).toBe("fulfilled");
    expect(detailed).not.toHaveBeenCalled();
  });

  it("refuses a peer whose certificate comes from another user's CA, on both sides", async () => {
    const mallory = await credentials(await makeCa("mallory"), "acme", "bob", userCa);
    const [client, server] = await secure(alice, mallory);
    expect(client).toMatchObject({ status: "rejected", reason: { code: "PEER_IDENTITY_MISMATCH" } });
    expect(server).toMatchObject({ status: "rejected", reason: { code: "PEER_IDENTITY_MISMATCH" } });
  });

  it("checks a peer certificate's signature once per certificate, and still refuses another CA's of the same name", async () => {
    const ca = await makeCa("acme");
    const [a2, b2] = await Promise.all([credentials(ca, "acme", "alice"), credentials(ca, "acme", "bob")]);
    const verified = vi.spyOn(X509Certificate.prototype, "verify");
    cleanups.push(() => verified.mockRestore());
    for (const round of [1, 2]) {
      const results = await secure(a2, b2);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
      expect([round, verified.mock.calls.length]).toEqual([round, 2]);
    }
    const mallory = await credentials(await makeCa("acme"), "acme", "bob", ca);
    const [client] = await secure(a2, mallory);
    expect(client).toMatchObject({
      status: "rejected",
      reason: {
        code: "PEER_IDENTITY_MISMATCH",
        message: expect.stringContaining("not signed by this user's CA"),
      },
    });
  });

  it("refuses a peer of the right CA that names another party, on both sides", async () => {
    const carol = await credentials(userCa, "acme", "carol");
    const [client, server] = await secure(carol, bob);
    expect(server).toMatchObject({
      status: "rejected",
      reason: {
        code: "PEER_IDENTITY_MISMATCH",
        message: expect.stringContaining("urn:flock:party:acme:carol"),
      },
    });
    expect(client).toMatchObject({ status: "rejected", reason: { code: "PEER_IDENTITY_MISMATCH" } });
  });

  it("fails with PEER_CLOSED, and nothing left to throw, when the stream ends during the handshake", async () => {
    // Found by the soak: a data plane killed while a party's handshake was in flight ended
    // its stream, and Node's late 'error' on the abandoned TLS socket crashed the process.
    const [a, b] = await streamPair(kind);
    // A WebSocket has no half-close: its end is the close frame a destroy sends.
    b.once("data", () => (kind === "tcp" ? b.end() : b.destroy()));
    b.resume();
    await expect(securePeerChannel(a, "client", alice, { user: "acme", party: "bob" })).rejects.toMatchObject(
      { code: "PEER_CLOSED" },
    );
    // The error Node emits after the end comes a tick or two later; give it the time.
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it("fails with PEER_SILENT and destroys the stream when the peer sends nothing for the setup's silence bound", async () => {
    const [a, b] = await streamPair(kind);
    b.resume();
    const silence = new SetupSilence(() => a.bytesRead, 200);
    cleanups.push(() => silence.stop());
    await expect(
      securePeerChannel(a, "client", alice, { user: "acme", party: "bob" }, { silence }),
    ).rejects.toMatchObject({ code: "PEER_SILENT" });
    expect(a.destroyed).toBe(true);
  });

  it("counts in the stream's bytesRead what the TLS on top reads, so a live handshake is heard", async () => {
    const { raw, client, server } = await securedPair();
    const afterHandshake = raw.bytesRead;
    expect(afterHandshake).toBeGreaterThan(0);
    const got = new Promise((resolve) => client.once("data", resolve));
    server.write("more");
    await got;
    expect(raw.bytesRead).toBeGreaterThan(afterHandshake);
  });

  it("ends the other side when the underlying stream dies mid-stream", async () => {
    const { client, server } = await securedPair();
    const ended = new Promise((resolve) => client.once("end", () => resolve("end")).once("error", resolve));
    client.resume();
    server.write("partial");
    // The peer's process dies: no close_notify, just the transport going away.
    server.destroy();
    expect(await ended).toBeDefined();
  });
});

describe("WebSocket byte stream", () => {
  /** A client byte stream on a fresh WebSocket, and the server's end of it. */
  async function webSocketPair(): Promise<{ stream: Duplex; server: WebSocket }> {
    const { client, server } = await webSockets();
    return { stream: webSocketByteStream(client), server };
  }

  /** How the stream stopped: "end", or the error's code; and what it had read by then. */
  function outcome(stream: Duplex): Promise<{ how: string; read: string }> {
    let read = "";
    stream.on("data", (c: Buffer) => {
      read += c.toString();
    });
    return new Promise((resolve) => {
      stream.once("end", () => resolve({ how: "end", read }));
      stream.once("error", (e: Error & { code?: string }) => resolve({ how: e.code ?? "error", read }));
    });
  }

  it("fails with PEER_CLOSED, never a clean end, when the WebSocket closes without a close frame", async () => {
    const { stream, server } = await webSocketPair();
    const result = outcome(stream);
    server.send("partial");
    await new Promise((resolve) => setTimeout(resolve, 50));
    server.terminate();
    expect(await result).toEqual({ how: "PEER_CLOSED", read: "partial" });
  });

  it("ends cleanly when the peer closes with a close frame", async () => {
    const { stream, server } = await webSocketPair();
    const result = outcome(stream);
    server.send("all of it");
    server.close(1000);
    expect(await result).toEqual({ how: "end", read: "all of it" });
  });

  it(`cuts a large write into messages of at most ${WS_MAX_MESSAGE_BYTES} bytes, in order`, async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => new Promise((done) => wss.close(() => done())));
    await new Promise((resolve) => wss.once("listening", resolve));
    const sizes: number[] = [];
    const received: Buffer[] = [];
    const total = 3 * WS_MAX_MESSAGE_BYTES + 17;
    const all = new Promise<void>((resolve) =>
      wss.once("connection", (peer) =>
        peer.on("message", (data: Buffer) => {
          sizes.push(data.length);
          received.push(data);
          if (Buffer.concat(received).length === total) resolve();
        }),
      ),
    );
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
    cleanups.push(() => ws.terminate());
    await new Promise((resolve) => ws.once("open", resolve));
    const payload = Buffer.from(Array.from({ length: total }, (_, i) => i % 251));
    const stream = webSocketByteStream(ws);
    // The cleanup terminates the WebSocket, an abnormal close: an error on this stream.
    stream.on("error", () => {});
    stream.write(payload);
    await all;
    expect(Math.max(...sizes)).toBe(WS_MAX_MESSAGE_BYTES);
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });
});
