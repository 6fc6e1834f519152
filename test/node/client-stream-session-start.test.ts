import type { AddressInfo, Server, Socket } from "node:net";
import { createServer, connect as netConnect } from "node:net";
import type { TLSSocket } from "node:tls";
import * as tls from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PeerCredentials } from "../../client/peer-tls.ts";
import { securePeerChannel } from "../../client/peer-tls.ts";
import { PEER_SETUP_SILENCE_MS, SetupSilence } from "../../client/setup-silence.ts";
import { encodeControl } from "../../client/stream/control-frames.ts";
import { STREAM_ALPN } from "../../client/stream/frames.ts";
import type { SessionKeys } from "../../client/stream/session-keys.ts";
import { isResumeProof, resumeProof } from "../../client/stream/session-keys.ts";
import type { SessionBinding } from "../../client/stream/session-start.ts";
import { OpenAhead, OpenInDoubt, openSession, resumeSession } from "../../client/stream/session-start.ts";
import type { TestCa } from "../helpers/system.ts";
import { issuePartyCertificate, makeCa } from "../helpers/system.ts";

let userCa: TestCa;
let alice: PeerCredentials;
let bob: PeerCredentials;

beforeAll(async () => {
  userCa = await makeCa("acme");
  const leaf = async (party: string) => {
    const issued = await issuePartyCertificate(userCa, "acme", party);
    return { userCa: userCa.pem, partyCert: issued.cert, partyKey: issued.key };
  };
  [alice, bob] = await Promise.all([leaf("alice"), leaf("bob")]);
});

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The setup's silence bound on `socket`, as reachPeer starts it, stopped after the test. */
function watch(socket: TLSSocket, silenceMs = PEER_SETUP_SILENCE_MS): SetupSilence {
  const silence = new SetupSilence(() => socket.bytesRead, silenceMs);
  cleanups.push(() => silence.stop());
  return silence;
}

async function tcpPair(): Promise<[Socket, Socket]> {
  const server: Server = createServer();
  cleanups.push(() => new Promise((done) => server.close(() => done())));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const client = netConnect((server.address() as AddressInfo).port, "127.0.0.1");
  const serverSide = await accepted;
  cleanups.push(
    () => void client.destroy(),
    () => void serverSide.destroy(),
  );
  return [client, serverSide];
}

/** Alice (TLS client) and Bob (server) after the end-to-end mTLS, with or without offering version 2. */
async function securedPair(offer: [boolean, boolean] = [true, true]) {
  const [a, b] = await tcpPair();
  const [client, server] = await Promise.all([
    securePeerChannel(a, "client", alice, { user: "acme", party: "bob" }, { offerFraming: offer[0] }),
    securePeerChannel(b, "server", bob, { user: "acme", party: "alice" }, { offerFraming: offer[1] }),
  ]);
  cleanups.push(
    () => void client.socket.destroy(),
    () => void server.socket.destroy(),
  );
  return [client, server] as const;
}

const binding = (self: string, peer: string, channel = "payments"): SessionBinding => ({
  pair: `pair-of-${channel}`,
  channel,
  self: `acme/${self}`,
  peer: `acme/${peer}`,
});
const own = { window: 1 << 20, resume: true };
/** A resume of a session that has moved no byte yet. */
const fromStart = { received: 0, endReceived: false, window: 1 << 20 };

describe("wire version negotiation (ALPN inside the end-to-end TLS)", () => {
  it("chooses version 2 when both ends offer it", async () => {
    const [client, server] = await securedPair();
    expect([client.framed, server.framed]).toEqual([true, true]);
    expect(client.socket.alpnProtocol).toBe(STREAM_ALPN);
  });

  it("stays raw when either end does not offer it (a version-1 SDK)", async () => {
    for (const offer of [
      [true, false],
      [false, true],
    ] as [boolean, boolean][]) {
      const [client, server] = await securedPair(offer);
      expect([client.framed, server.framed]).toEqual([false, false]);
      const got = new Promise<string>((resolve) =>
        server.socket.once("data", (c: Buffer) => resolve(c.toString())),
      );
      client.socket.write("raw bytes");
      expect(await got).toBe("raw bytes");
    }
  });

  it("stays raw, not refused, with a TLS client that offers only other protocols", async () => {
    const [a, b] = await tcpPair();
    const server = securePeerChannel(b, "server", bob, { user: "acme", party: "alice" });
    const other: TLSSocket = tls.connect({
      socket: a,
      cert: alice.partyCert,
      key: alice.partyKey,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
    });
    cleanups.push(() => void other.destroy());
    await new Promise((resolve) => other.once("secureConnect", resolve));
    other.write(Buffer.from([0x01]));
    const secured = await server;
    cleanups.push(() => void secured.socket.destroy());
    expect(secured.framed).toBe(false);
  });
});

describe("OPEN: both sides agree on pair, channel and parties", () => {
  it("opens when they agree, with the same resume keys on both sides", async () => {
    const [client, server] = await securedPair();
    const [a, b] = await Promise.all([
      openSession(client.socket, binding("alice", "bob"), own, watch(client.socket)),
      openSession(
        server.socket,
        binding("bob", "alice"),
        { window: 2 << 20, resume: true },
        watch(server.socket),
      ),
    ]);
    expect(a.keys.resumeChannel).toBe(b.keys.resumeChannel);
    expect(a.keys.resumeChannel).toMatch(/^resume\.[A-Za-z0-9_-]{21}$/);
    expect(a.keys.resumeSecret.equals(b.keys.resumeSecret)).toBe(true);
    expect([a.peerWindow, b.peerWindow]).toEqual([2 << 20, 1 << 20]);
    expect([a.resumable, b.resumable]).toEqual([true, true]);
  });

  it("resumes only if both sides say they will", async () => {
    const [client, server] = await securedPair();
    const [a, b] = await Promise.all([
      openSession(client.socket, binding("alice", "bob"), own, watch(client.socket)),
      openSession(server.socket, binding("bob", "alice"), { ...own, resume: false }, watch(server.socket)),
    ]);
    expect([a.resumable, b.resumable]).toEqual([false, false]);
  });

  it("refuses a cross-wired splice (payments to logs) with CHANNEL_MISMATCH on both sides", async () => {
    const [client, server] = await securedPair();
    const results = await Promise.allSettled([
      openSession(client.socket, binding("alice", "bob", "payments"), own, watch(client.socket)),
      openSession(server.socket, binding("bob", "alice", "logs"), own, watch(server.socket)),
    ]);
    for (const result of results) {
      expect(result).toMatchObject({ status: "rejected", reason: { code: "CHANNEL_MISMATCH" } });
    }
    expect((results[0] as PromiseRejectedResult).reason.message).toContain(
      'The peer opened channel "logs" (pair pair-of-logs), this side channel "payments"',
    );
  });

  it("gives a silent peer the setup's silence bound, then leaves the session in doubt: the OPEN went out, none came back", async () => {
    const [client] = await securedPair();
    const failed = await openSession(
      client.socket,
      binding("alice", "bob"),
      own,
      watch(client.socket, 200),
    ).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenInDoubt);
    expect(failed).toMatchObject({ code: "PEER_SILENT", message: expect.stringContaining("for 200 ms") });
    expect((failed as OpenInDoubt).keys.resumeChannel).toMatch(/^resume\./);
  });

  it("bounds silence, not time: a peer whose OPEN trickles in over longer than the bound still opens", async () => {
    const [client, server] = await securedPair();
    const opened = openSession(client.socket, binding("alice", "bob"), own, watch(client.socket, 400));
    const theirs = encodeControl({
      type: "open",
      pair: "pair-of-payments",
      channel: "payments",
      from: "acme/bob",
      to: "acme/alice",
      ...own,
    });
    // One TLS record every 100 ms, a quarter of the bound; the whole frame takes three times it.
    const pieces = 12;
    const size = Math.ceil(theirs.length / pieces);
    for (let at = 0; at < theirs.length; at += size) {
      server.socket.write(theirs.subarray(at, at + size));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await expect(opened).resolves.toMatchObject({ peerWindow: own.window, resumable: true });
  });

  it("fails with STREAM_ABORTED and the peer's reason when the peer's first frame is an ABORT", async () => {
    const [client, server] = await securedPair();
    server.socket.write(
      encodeControl({ type: "abort", code: "CONFIG_INVALID", message: "no such channel here" }),
    );
    const failed = await openSession(client.socket, binding("alice", "bob"), own, watch(client.socket)).catch(
      (e: unknown) => e,
    );
    expect(failed).toMatchObject({
      code: "STREAM_ABORTED",
      message: "The peer gave the stream up: no such channel here (CONFIG_INVALID).",
    });
  });

  it("refuses a peer that means another party with PEER_IDENTITY_MISMATCH on both sides", async () => {
    const [client, server] = await securedPair();
    const results = await Promise.allSettled([
      openSession(client.socket, binding("alice", "bob"), own, watch(client.socket)),
      openSession(server.socket, binding("bob", "carol"), own, watch(server.socket)),
    ]);
    for (const result of results) {
      expect(result).toMatchObject({ status: "rejected", reason: { code: "PEER_IDENTITY_MISMATCH" } });
    }
  });
});

describe("OPEN ahead: the TLS client's OPEN right behind its verdict", () => {
  const pairedAs = { role: "client" as const, pair: "pair-of-payments" };

  it("leaves before the server's verdict arrives: a server that never answers still gets verdict and OPEN", async () => {
    const [a, b] = await tcpPair();
    const ahead = new OpenAhead(binding("alice", "bob"), own);
    const client = securePeerChannel(
      a,
      "client",
      alice,
      { user: "acme", party: "bob" },
      { firstFrame: (socket) => ahead.frame(socket, pairedAs) },
    );
    client.catch(() => {});
    // A TLS server with bob's certificate that reads and never sends a verdict.
    const silent = new tls.TLSSocket(b, {
      isServer: true,
      requestCert: true,
      rejectUnauthorized: false,
      cert: bob.partyCert,
      key: bob.partyKey,
      ALPNCallback: () => STREAM_ALPN,
    });
    cleanups.push(() => void silent.destroy());
    const expected = Buffer.concat([
      Buffer.from([0x01]),
      encodeControl({
        type: "open",
        pair: "pair-of-payments",
        channel: "payments",
        from: "acme/alice",
        to: "acme/bob",
        ...own,
      }),
    ]);
    const got = await new Promise<Buffer>((resolve) => {
      let bytes = Buffer.alloc(0);
      silent.on("data", (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        if (bytes.length >= expected.length) resolve(bytes);
      });
    });
    expect(got.equals(expected)).toBe(true);
    expect(ahead.sent?.at).toEqual(pairedAs);
  });

  it("opens with a server that sends its OPEN after the verdicts, with the same keys on both sides", async () => {
    const [a, b] = await tcpPair();
    const ahead = new OpenAhead(binding("alice", "bob"), own);
    const [client, server] = await Promise.all([
      securePeerChannel(
        a,
        "client",
        alice,
        { user: "acme", party: "bob" },
        { firstFrame: (socket) => ahead.frame(socket, pairedAs) },
      ),
      securePeerChannel(b, "server", bob, { user: "acme", party: "alice" }),
    ]);
    cleanups.push(
      () => void client.socket.destroy(),
      () => void server.socket.destroy(),
    );
    const [x, y] = await Promise.all([
      openSession(client.socket, binding("alice", "bob"), own, watch(client.socket), ahead.sent?.keys),
      openSession(
        server.socket,
        binding("bob", "alice"),
        { window: 2 << 20, resume: true },
        watch(server.socket),
      ),
    ]);
    expect(x.keys.resumeSecret.equals(y.keys.resumeSecret)).toBe(true);
    expect([x.peerWindow, y.peerWindow]).toEqual([2 << 20, 1 << 20]);
  });

  it("is not sent to a server this side refuses, nor by a TLS server", async () => {
    const mallory = await (async () => {
      const other = await makeCa("acme");
      const issued = await issuePartyCertificate(other, "acme", "bob");
      return { userCa: userCa.pem, partyCert: issued.cert, partyKey: issued.key };
    })();
    const [a, b] = await tcpPair();
    const asked: string[] = [];
    const ask = (who: string) => {
      asked.push(who);
      return Buffer.alloc(0);
    };
    const results = await Promise.allSettled([
      securePeerChannel(
        a,
        "client",
        alice,
        { user: "acme", party: "bob" },
        { firstFrame: () => ask("client") },
      ),
      securePeerChannel(
        b,
        "server",
        mallory,
        { user: "acme", party: "alice" },
        { firstFrame: () => ask("server") },
      ),
    ]);
    expect(results[0]).toMatchObject({ status: "rejected", reason: { code: "PEER_IDENTITY_MISMATCH" } });
    expect(asked).toEqual([]);
  });
});

describe("RESUME: the same session, proven with the first handshake's secret", () => {
  async function firstKeys(): Promise<SessionKeys> {
    const [client, server] = await securedPair();
    const [a] = await Promise.all([
      openSession(client.socket, binding("alice", "bob"), own, watch(client.socket)),
      openSession(server.socket, binding("bob", "alice"), own, watch(server.socket)),
    ]);
    return a.keys;
  }

  it("exchanges positions when both hold the secret", async () => {
    const keys = await firstKeys();
    const [client, server] = await securedPair();
    const [atAlice, atBob] = await Promise.all([
      resumeSession(
        client.socket,
        keys,
        "client",
        binding("alice", "bob"),
        {
          received: 10,
          endReceived: false,
          window: 1 << 20,
        },
        watch(client.socket),
      ),
      resumeSession(
        server.socket,
        keys,
        "server",
        binding("bob", "alice"),
        {
          received: 20,
          endReceived: true,
          window: 1 << 21,
        },
        watch(server.socket),
      ),
    ]);
    expect(atAlice).toEqual({ received: 20, endReceived: true, window: 1 << 21 });
    expect(atBob).toEqual({ received: 10, endReceived: false, window: 1 << 20 });
  });

  it("refuses a peer with another session's secret with SESSION_MISMATCH on both sides", async () => {
    const [keys, other] = await Promise.all([firstKeys(), firstKeys()]);
    const [client, server] = await securedPair();
    const results = await Promise.allSettled([
      resumeSession(client.socket, keys, "client", binding("alice", "bob"), fromStart, watch(client.socket)),
      resumeSession(server.socket, other, "server", binding("bob", "alice"), fromStart, watch(server.socket)),
    ]);
    for (const result of results) {
      expect(result).toMatchObject({ status: "rejected", reason: { code: "SESSION_MISMATCH" } });
    }
  });

  it("refuses a proof replayed from another transport with SESSION_MISMATCH", async () => {
    const keys = await firstKeys();
    const bobProves = {
      role: "server",
      pair: "pair-of-payments",
      channel: "payments",
      from: "acme/bob",
      to: "acme/alice",
    } as const;
    // Bob's proof as it went over one resumed transport, replayed on another by someone who
    // saw it there and does not hold the session's secret.
    const [, seen] = await securedPair();
    const replayed = resumeProof(keys, bobProves, seen.socket);
    const [client, server] = await securedPair();
    // Made on this transport, the same proof would pass: only the transport differs.
    expect(isResumeProof(keys, bobProves, client.socket, resumeProof(keys, bobProves, server.socket))).toBe(
      true,
    );
    server.socket.write(
      encodeControl({ type: "resume", proof: replayed, received: 0, endReceived: false, window: 1 << 20 }),
    );
    await expect(
      resumeSession(client.socket, keys, "client", binding("alice", "bob"), fromStart, watch(client.socket)),
    ).rejects.toMatchObject({ code: "SESSION_MISMATCH" });
  });

  it("refuses a proof reflected back with SESSION_MISMATCH on both sides", async () => {
    const keys = await firstKeys();
    const [client, server] = await securedPair();
    // Both claim the client's role: each sees a proof made for its own role, not the peer's.
    const results = await Promise.allSettled([
      resumeSession(client.socket, keys, "client", binding("alice", "bob"), fromStart, watch(client.socket)),
      resumeSession(server.socket, keys, "client", binding("bob", "alice"), fromStart, watch(server.socket)),
    ]);
    for (const result of results) {
      expect(result).toMatchObject({ status: "rejected", reason: { code: "SESSION_MISMATCH" } });
    }
  });

  it.each([
    ["another channel", binding("bob", "alice", "logs")],
    ["other parties", binding("bob", "carol")],
  ])("refuses a proof made for %s with SESSION_MISMATCH on both sides: it covers the binding", async (_what, theirs) => {
    const keys = await firstKeys();
    const [client, server] = await securedPair();
    const results = await Promise.allSettled([
      resumeSession(client.socket, keys, "client", binding("alice", "bob"), fromStart, watch(client.socket)),
      resumeSession(server.socket, keys, "server", theirs, fromStart, watch(server.socket)),
    ]);
    for (const result of results) {
      expect(result).toMatchObject({ status: "rejected", reason: { code: "SESSION_MISMATCH" } });
    }
    expect((results[0] as PromiseRejectedResult).reason.message).toContain(
      'for channel "payments" (pair pair-of-payments) between acme/alice and acme/bob',
    );
  });

  it("refuses a peer that opens a new session where this side resumes", async () => {
    const keys = await firstKeys();
    const [client, server] = await securedPair();
    const results = await Promise.allSettled([
      resumeSession(client.socket, keys, "client", binding("alice", "bob"), fromStart, watch(client.socket)),
      openSession(server.socket, binding("bob", "alice"), own, watch(server.socket)),
    ]);
    for (const result of results) {
      expect(result).toMatchObject({ status: "rejected", reason: { code: "SESSION_MISMATCH" } });
    }
  });
});
