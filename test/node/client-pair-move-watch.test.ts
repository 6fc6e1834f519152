import { createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createIdentity } from "../../client/identity.ts";
import { watchForPairMove } from "../../client/pair-move-watch.ts";
import { verifySignedRequest } from "../../protocol/signed-request.ts";
import { PAIR_RELAY_PATH } from "../../protocol/wire.ts";
import { useRecordingServer } from "../helpers/recording-server.ts";
import { makeCa, offlineIdentity } from "../helpers/system.ts";

/** Lookups, each answered as the worker would for a moved pair. */
const worker = useRecordingServer(200, '{"pair":"p","relay":"relay-2"}');

describe("watchForPairMove", () => {
  it("asks which data plane holds the pair, naming only dest and channel, and rejects PAIR_MOVED when it is another", async () => {
    const materials = await offlineIdentity(
      "acme",
      "alice",
      { relayCa: await makeCa("relay"), userCa: await makeCa("user") },
      { url: worker.url() },
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
    const [look] = worker.received;
    expect(look?.path).toBe(PAIR_RELAY_PATH);
    const payload = await verifySignedRequest(
      look?.body ?? "",
      createPublicKey(materials.relayKey),
      "POST",
      PAIR_RELAY_PATH,
    );
    expect(payload.body).toEqual({ dest: "bob", channel: "c1" });
  });
});
