import { createPrivateKey, X509Certificate } from "node:crypto";
import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer } from "node:net";
import type { Duplex } from "node:stream";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RelayCredentials } from "../../client/dial.ts";
import {
  dialEarly,
  likelyRelay,
  MAX_REMEMBERED_WORKERS,
  rememberedRelays,
  rememberRelay,
} from "../../client/early-dial.ts";
import { relayHandshake } from "../../client/handshake.ts";
import type { TicketResponse } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { encodeFrame } from "../../protocol/frames.ts";
import { readHello } from "../helpers/fake-relay.ts";
import { issuePartyCertificate, makeCa } from "../helpers/system.ts";

let hello: { relayCertDer: Uint8Array; relayKey: ReturnType<typeof createPrivateKey> };
const credentials = {} as RelayCredentials; // tcp needs none

beforeAll(async () => {
  const relay = await issuePartyCertificate(await makeCa("relay-test"), "acme", "alice");
  hello = {
    relayCertDer: new Uint8Array(new X509Certificate(relay.cert).raw),
    relayKey: createPrivateKey(relay.key),
  };
});

const servers: Server[] = [];
const sockets: Duplex[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

interface FakeRelay {
  port: number;
  /** Connections accepted so far. */
  accepted: Socket[];
  /** Each connection's hello, once it came. */
  hellos: Promise<unknown>[];
}

/** A data plane that challenges every connection and answers a hello with PAIRED. */
async function fakeRelay(): Promise<FakeRelay> {
  const relay: FakeRelay = { port: 0, accepted: [], hellos: [] };
  const server = createServer((socket) => {
    sockets.push(socket);
    relay.accepted.push(socket);
    const hello = readHello(socket, "r1");
    relay.hellos.push(hello);
    hello.then(
      () => socket.write(encodeFrame({ type: "paired", peer: "acme/bob", role: "client", pair: "p1" })),
      () => {},
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  relay.port = (server.address() as AddressInfo).port;
  return relay;
}

const endpoint = (port: number, name = "r1") => ({ name, hosts: ["127.0.0.1"], port });
const ticketFor = (relay: TicketResponse["relay"]): TicketResponse => ({
  ticket: "header.payload.signature",
  expiresAt: new Date().toISOString(),
  pair: "p1",
  role: "client",
  peer: "acme/bob",
  relay,
});
const track = (stream: Duplex) => sockets.push(stream);
const closed = (socket: Socket) => new Promise((resolve) => socket.once("close", resolve));
const until = async (check: () => boolean) => {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe("dialEarly", () => {
  it("sends the hello on the connection it made before the ticket came", async () => {
    const relay = await fakeRelay();
    const early = dialEarly(endpoint(relay.port), "tcp", credentials, track, {});
    await until(() => relay.accepted.length === 1);
    const claimed = early.claim(ticketFor(endpoint(relay.port)), hello);
    expect(claimed).toBeDefined();
    expect(await claimed?.paired).toMatchObject({ type: "paired", peer: "acme/bob" });
    expect(await relay.hellos[0]).toMatchObject({ type: "hello", ticket: "header.payload.signature" });
    expect(relay.accepted).toHaveLength(1);
  });

  it("closes its connection unused when the ticket names another data plane", async () => {
    const relay = await fakeRelay();
    const early = dialEarly(endpoint(relay.port), "tcp", credentials, track, {});
    await until(() => relay.accepted.length === 1);
    const gone = closed(relay.accepted[0] as Socket);
    expect(early.claim(ticketFor(endpoint(relay.port, "r2")), hello)).toBeUndefined();
    await gone;
  });

  it("closes its connection when no ticket comes", async () => {
    const relay = await fakeRelay();
    const early = dialEarly(endpoint(relay.port), "tcp", credentials, track, {});
    await until(() => relay.accepted.length === 1);
    const gone = closed(relay.accepted[0] as Socket);
    early.abandon();
    await gone;
  });

  it("hands nothing over once its connection failed, so the caller dials again", async () => {
    const relay = await fakeRelay();
    const early = dialEarly(endpoint(relay.port), "tcp", credentials, track, {});
    await until(() => relay.accepted.length === 1);
    (relay.accepted[0] as Socket).destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(early.claim(ticketFor(endpoint(relay.port)), hello)).toBeUndefined();
  });
});

describe("relayHandshake with credentials still on their way", () => {
  it("fails at once, with their error, when they fail", async () => {
    const relay = await fakeRelay();
    const socket = connect(relay.port, "127.0.0.1");
    sockets.push(socket);
    const refusal = new FlockError("UNKNOWN_DEST");
    let refuse: (error: FlockError) => void = () => {};
    const given = new Promise<never>((_, reject) => {
      refuse = reject;
    });
    const failing = relayHandshake(socket, given);
    await until(() => relay.accepted.length === 1);
    refuse(refusal);
    await expect(failing).rejects.toBe(refusal);
    expect(socket.destroyed).toBe(true);
  });
});

describe("the relay remembered per worker", () => {
  it("is the last one a ticket named, for at most MAX_REMEMBERED_WORKERS workers", () => {
    rememberRelay("http://w0", endpoint(1));
    rememberRelay("http://w0", endpoint(2));
    expect(likelyRelay("http://w0")?.port).toBe(2);
    for (let i = 1; i <= MAX_REMEMBERED_WORKERS; i++) rememberRelay(`http://w${i}`, endpoint(i));
    expect(rememberedRelays()).toBe(MAX_REMEMBERED_WORKERS);
    expect(likelyRelay("http://w0")).toBeUndefined();
    expect(likelyRelay(`http://w${MAX_REMEMBERED_WORKERS}`)?.port).toBe(MAX_REMEMBERED_WORKERS);
  });
});
