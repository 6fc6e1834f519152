import { describe, expect, it } from "vitest";
import { parseClientHello } from "../../dataplane/admission/client-hello.ts";
import { mayBeFrelay } from "../../dataplane/admission/frelay-transport.ts";
import { clientHelloRecord } from "../helpers/frelay-client.ts";

describe("telling the original relay's clients apart by their ClientHello", () => {
  it("reads the server name and the ALPN offers", async () => {
    const hello = parseClientHello(
      await clientHelloRecord({ servername: "flockrelay", ALPNProtocols: ["a", "bc"] }),
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
    const hello = parseClientHello(await clientHelloRecord(options));
    expect(hello && mayBeFrelay(hello)).toBe(gated);
  });

  it("gives up on records that are no ClientHello or are cut short", () => {
    expect(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n\r\n"))).toBeUndefined();
    expect(parseClientHello(Buffer.from([0x16, 3, 1, 0, 40, 1, 0, 0, 36, 3, 3]))).toBeUndefined();
  });
});
