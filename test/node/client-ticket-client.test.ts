import { createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createIdentity } from "../../client/identity.ts";
import { fetchTicket } from "../../client/ticket-client.ts";
import { verifySignedRequest } from "../../protocol/signed-request.ts";
import { TICKETS_PATH } from "../../protocol/wire.ts";
import { useRecordingServer } from "../helpers/recording-server.ts";
import { issuePartyCertificate, makeCa, offlineIdentity } from "../helpers/system.ts";

/** Ticket requests, each answered 404 UNKNOWN_DEST. */
const worker = useRecordingServer([404, '{"error":"no","code":"UNKNOWN_DEST"}']);

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
      { url: worker.url() },
    );
    const relay = await issuePartyCertificate(relayCa, "acme", "alice", keyType);
    const identity = createIdentity({ ...materials, relayCert: relay.cert, relayKey: relay.key });
    await expect(fetchTicket(identity, { dest: "bob", channel: "c1" })).rejects.toMatchObject({
      code: "UNKNOWN_DEST",
    });
    const jws = worker.received.at(-1)?.body ?? "";
    const payload = await verifySignedRequest(jws, createPublicKey(relay.key), "POST", TICKETS_PATH);
    expect(payload.body).toEqual({ dest: "bob", channel: "c1" });
    await expect(
      verifySignedRequest(jws, createPublicKey(relay.key), "POST", "/v1/relays/report"),
    ).rejects.toMatchObject({
      code: "BAD_SIGNATURE",
    });
  });
});
