import type { AddressInfo, Server, Socket } from "node:net";
import { createServer } from "node:net";
import * as tls from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import type { RelayCredentials } from "../../client/dial.ts";
import { dialRelay } from "../../client/dial.ts";
import type { TestCa } from "../helpers/system.ts";
import { issuePartyCertificate, issueRelayCertificate, makeCa } from "../helpers/system.ts";

let relayCa: TestCa;
let credentials: RelayCredentials;
const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

beforeAll(async () => {
  relayCa = await makeCa("relay-ca");
  const party = await issuePartyCertificate(relayCa, "acme", "alice");
  credentials = { relayCa: relayCa.pem, relayCert: party.cert, relayKey: party.key };
});

async function listening(server: Server | tls.Server): Promise<number> {
  const sockets: Socket[] = [];
  server.on("connection", (s: Socket) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

async function tlsRelay(name: string, hosts: string[], ca: TestCa = relayCa): Promise<number> {
  const server = await issueRelayCertificate(ca, name, hosts);
  const relay = tls.createServer({ ...server, ca: relayCa.pem, requestCert: true });
  relay.on("tlsClientError", () => {});
  return listening(relay);
}

describe("dialling a data plane over TLS", () => {
  it("accepts a relay certificate by its urn:flock:relay name even when the host is not in it", async () => {
    const port = await tlsRelay("r1", ["relay.example"]);
    const stream = await dialRelay({ name: "r1", host: "127.0.0.1", port }, "tls", credentials);
    closers.push(() => stream.destroy());
    expect((stream as tls.TLSSocket).getPeerCertificate().subjectaltname).toContain("URI:urn:flock:relay:r1");
  });

  it("refuses a relay certificate for another relay name, even for the dialled host", async () => {
    const port = await tlsRelay("r2", ["127.0.0.1"]);
    await expect(
      dialRelay({ name: "r1", host: "127.0.0.1", port }, "tls", credentials),
    ).rejects.toMatchObject({
      code: "DIAL_FAILED",
      message: expect.stringContaining("urn:flock:relay:r1"),
    });
  });

  it("refuses a relay certificate from another CA", async () => {
    const port = await tlsRelay("r1", ["127.0.0.1"], await makeCa("other"));
    await expect(
      dialRelay({ name: "r1", host: "127.0.0.1", port }, "tls", credentials),
    ).rejects.toMatchObject({
      code: "DIAL_FAILED",
    });
  });

  it("gives up after the dial timeout when the server accepts and never answers", async () => {
    const port = await listening(createServer(() => {}));
    await expect(
      dialRelay({ name: "r1", host: "127.0.0.1", port }, "tls", credentials, 200),
    ).rejects.toMatchObject({
      code: "DIAL_FAILED",
      message: expect.stringContaining("no answer within 200 ms"),
    });
  });
});

describe("dialling a data plane over WebSocket", () => {
  it("refuses a server that does not speak the flock.v1 subprotocol", async () => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => false });
    await new Promise((resolve) => wss.once("listening", resolve));
    closers.push(() => wss.close());
    const port = (wss.address() as AddressInfo).port;
    await expect(dialRelay({ name: "r1", host: "127.0.0.1", port }, "ws", credentials)).rejects.toMatchObject(
      {
        code: "DIAL_FAILED",
      },
    );
  });

  it("fails with DIAL_FAILED when nothing listens", async () => {
    const port = await listening(createServer());
    for (const close of closers.splice(0)) close();
    await expect(dialRelay({ name: "r1", host: "127.0.0.1", port }, "ws", credentials)).rejects.toMatchObject(
      {
        code: "DIAL_FAILED",
      },
    );
  });
});
