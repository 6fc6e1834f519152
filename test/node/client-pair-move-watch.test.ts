import { createPublicKey } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity } from "../../client/identity.ts";
import { watchForPairMove } from "../../client/pair-move-watch.ts";
import { verifySignedRequest } from "../../protocol/signed-request.ts";
import { PAIR_RELAY_PATH } from "../../protocol/wire.ts";
import { makeCa, offlineIdentity } from "../helpers/system.ts";

/** The requests received (path and signed body); each is answered as the worker would for a moved pair. */
const received: { path: string; jws: string }[] = [];
const server = createServer((req, res) => {
  let jws = "";
  req.on("data", (chunk: Buffer) => {
    jws += chunk.toString();
  });
  req.on("end", () => {
    received.push({ path: req.url ?? "", jws });
    res.writeHead(200, { "content-type": "application/json" }).end('{"pair":"p","relay":"relay-2"}');
  });
});
let url = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("watchForPairMove", () => {
  it("asks which data plane holds the pair, naming only dest and channel, and rejects PAIR_MOVED when it is another", async () => {
    const materials = await offlineIdentity(
      "acme",
      "alice",
      { relayCa: await makeCa("relay"), userCa: await makeCa("user") },
      { url },
    );
    // What reach-peer hands it: the attempt's ticket request, `unreachable` and all.
    const ticketRequest = { dest: "bob", channel: "c1", unreachable: ["relay-0"] };
    const watch = watchForPairMove(createIdentity(materials), ticketRequest, "relay-1");
    watch.start();
    await expect(watch.moved).rejects.toMatchObject({
      code: "PAIR_MOVED",
      message: expect.stringMatching(/from data plane relay-1, .* to relay-2\./),
    });
    watch.stop();
    const [look] = received;
    expect(look?.path).toBe(PAIR_RELAY_PATH);
    const payload = await verifySignedRequest(
      look?.jws ?? "",
      createPublicKey(materials.relayKey),
      "POST",
      PAIR_RELAY_PATH,
    );
    expect(payload.body).toEqual({ dest: "bob", channel: "c1" });
  });
});
