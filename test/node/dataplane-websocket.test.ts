import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { MAGIC, WS_SUBPROTOCOL } from "../../protocol/frames.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

const fx = useDataPlaneFixtures();

/** Sends raw HTTP and reads the whole answer (the relay closes after a refusal). */
async function httpExchange(port: number, request: string): Promise<{ status: number; body: unknown }> {
  const socket = connect({ host: "127.0.0.1", port });
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.write(request);
  await new Promise((resolve) => socket.once("end", resolve));
  socket.destroy();
  const text = Buffer.concat(chunks).toString();
  const [head = "", body = ""] = text.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), body: JSON.parse(body) };
}

const upgrade = (headers: Record<string, string>, path = "/") =>
  `GET ${path} HTTP/1.1\r\n${Object.entries({
    Host: "localhost",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    ...headers,
  })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;

describe("WebSocket upgrade refusals", () => {
  it("answers 400 UNSUPPORTED_VERSION to an upgrade without the flock.v1 subprotocol", async () => {
    const dp = await fx.start();
    const answer = await httpExchange(dp.port, upgrade({ "Sec-WebSocket-Protocol": "flock.v2" }));
    expect(answer).toEqual({
      status: 400,
      body: { code: "UNSUPPORTED_VERSION", error: `Offer the WebSocket subprotocol ${WS_SUBPROTOCOL}.` },
    });
  });

  it("answers 404 NOT_FOUND to an upgrade on another path", async () => {
    const dp = await fx.start();
    const answer = await httpExchange(
      dp.port,
      upgrade({ "Sec-WebSocket-Protocol": WS_SUBPROTOCOL }, "/x?ticket=t"),
    );
    expect(answer).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
  });

  it("answers 400 BAD_MAGIC to a plain GET that is no upgrade", async () => {
    const dp = await fx.start();
    const answer = await httpExchange(dp.port, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect(answer).toMatchObject({ status: 400, body: { code: "BAD_MAGIC" } });
  });

  it("answers 413 HELLO_TOO_LARGE to an upgrade request over maxUpgradeRequestBytes", async () => {
    const dp = await fx.start({ maxUpgradeRequestBytes: 1024 });
    const answer = await httpExchange(
      dp.port,
      upgrade({ "Sec-WebSocket-Protocol": WS_SUBPROTOCOL, "X-Padding": "p".repeat(2000) }),
    );
    expect(answer).toMatchObject({ status: 413, body: { code: "HELLO_TOO_LARGE" } });
  });

  it("closes a WebSocket whose message exceeds maxWsMessageBytes (1009)", async () => {
    const dp = await fx.start({ maxWsMessageBytes: 4096 });
    const ws = new WebSocket(`ws://127.0.0.1:${dp.port}/`, WS_SUBPROTOCOL);
    await new Promise((resolve) => ws.once("open", resolve));
    ws.send(MAGIC);
    ws.send(Buffer.alloc(4097));
    const code = await new Promise<number>((resolve) => ws.once("close", resolve));
    expect(code).toBe(1009);
  });

  it("by default takes a 64 KiB message (the SDK's largest) but closes one past 64 KiB + 1 KiB of slack", async () => {
    const dp = await fx.start();
    const closeCodeAfter = async (size: number) => {
      const ws = new WebSocket(`ws://127.0.0.1:${dp.port}/`, WS_SUBPROTOCOL);
      await new Promise((resolve) => ws.once("open", resolve));
      const answers: Buffer[] = [];
      ws.on("message", (data: Buffer) => answers.push(data));
      ws.send(MAGIC);
      ws.send(Buffer.alloc(size));
      const code = await new Promise<number>((resolve) => ws.once("close", resolve));
      return { code, answered: answers.length > 1 };
    };
    // 64 KiB reaches the handshake (which refuses it with an ERROR frame, after the challenge).
    expect(await closeCodeAfter(64 * 1024)).toMatchObject({ answered: true });
    expect((await closeCodeAfter(64 * 1024)).code).not.toBe(1009);
    expect((await closeCodeAfter(64 * 1024 + 1024 + 1)).code).toBe(1009);
  });
});
