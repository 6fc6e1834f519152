import { createPublicKey } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity } from "../../client/identity.ts";
import { fetchTicket } from "../../client/ticket-client.ts";
import { verifySignedRequest } from "../../protocol/signed-request.ts";
import { TICKETS_PATH } from "../../protocol/wire.ts";
import { issuePartyCertificate, makeCa, offlineIdentity } from "../helpers/system.ts";

/** Bodies of the ticket requests received; each is answered 404 UNKNOWN_DEST. */
const received: string[] = [];
const server = createServer((req, res) => {
  let body = "";
  req.on("data", (chunk: Buffer) => {
    body += chunk.toString();
  });
  req.on("end", () => {
    received.push(body);
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":"no","code":"UNKNOWN_DEST"}');
  });
});
let url = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("fetchTicket's signed request", () => {
  it.each([
    "ec",
    "rsa",
  ] as const)("is one the worker's check accepts, with a%s relay key, for this endpoint and body", async (keyType) => {
    const relayCa = await makeCa("relay");
    const materials = await offlineIdentity(
      "acme",
      "alice",
      { relayCa, userCa: await makeCa("user") },
      { url },
    );
    const relay = await issuePartyCertificate(relayCa, "acme", "alice", keyType);
    const identity = createIdentity({ ...materials, relayCert: relay.cert, relayKey: relay.key });
    await expect(fetchTicket(identity, { dest: "bob", channel: "c1" })).rejects.toMatchObject({
      code: "UNKNOWN_DEST",
    });
    const jws = received.at(-1) ?? "";
    const payload = await verifySignedRequest(jws, createPublicKey(relay.key), "POST", TICKETS_PATH);
    expect(payload.body).toEqual({ dest: "bob", channel: "c1" });
    await expect(
      verifySignedRequest(jws, createPublicKey(relay.key), "POST", "/v1/relays/report"),
    ).rejects.toMatchObject({
      code: "BAD_SIGNATURE",
    });
  });
});
