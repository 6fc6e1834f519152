import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { connect } from "node:tls";
import { describe, expect, it } from "vitest";
import { parseClientHello } from "../../dataplane/admission/client-hello.ts";
import { mayBeFrelay } from "../../dataplane/admission/frelay-transport.ts";
import { tlsRecordLength } from "../../dataplane/tls-record-gate.ts";

/** The first TLS record Node's client sends with these options, as a data plane receives it. */
async function firstRecord(options: ConnectionOptions): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const received = new Promise<Buffer>((resolve) => {
    server.once("connection", (socket) => {
      let bytes = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        const length = tlsRecordLength(bytes);
        if (length !== undefined && bytes.length >= length) {
          resolve(bytes.subarray(0, length));
          socket.destroy();
        }
      });
    });
  });
  const client = connect({ port: (server.address() as AddressInfo).port, host: "127.0.0.1", ...options });
  client.on("error", () => {});
  try {
    return await received;
  } finally {
    client.destroy();
    server.close();
  }
}

describe("telling the original relay's clients apart by their ClientHello", () => {
  it("reads the server name and the ALPN offers", async () => {
    const hello = parseClientHello(
      await firstRecord({ servername: "flockrelay", ALPNProtocols: ["a", "bc"] }),
    );
    expect(hello).toEqual({ serverName: "flockrelay", alpn: ["a", "bc"] });
  });

  it.each([
    ["the Go client (SNI flockrelay, no ALPN)", { servername: "flockrelay" }, true],
    ["the C client (no SNI, no ALPN)", {}, true],
    ["Flock's SDK by IP address (no SNI, ALPN flock)", { ALPNProtocols: ["flock"] }, false],
    ["Flock's SDK by host name", { servername: "relay.example.com", ALPNProtocols: ["flock"] }, false],
    ["any client naming another host", { servername: "relay.example.com" }, false],
  ] as const)("%s: gated is %s", async (_who, options, gated) => {
    const hello = parseClientHello(await firstRecord(options));
    expect(hello && mayBeFrelay(hello)).toBe(gated);
  });

  it("gives up on records that are no ClientHello or are cut short", () => {
    expect(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n\r\n"))).toBeUndefined();
    expect(parseClientHello(Buffer.from([0x16, 3, 1, 0, 40, 1, 0, 0, 36, 3, 3]))).toBeUndefined();
  });
});
