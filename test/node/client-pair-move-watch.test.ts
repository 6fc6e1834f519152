import { createPublicKey } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createIdentity } from "../../client/identity.ts";
import {
  WAITING_RECHECK_INITIAL_MS,
  WAITING_RECHECK_MAX_MS,
  watchForPairMove,
} from "../../client/pair-move-watch.ts";
import { verifySignedRequest } from "../../protocol/signed-request.ts";
import { PAIR_RELAY_PATH } from "../../protocol/wire.ts";
import type { RecordedAnswer } from "../helpers/recording-server.ts";
import { useRecordingServer } from "../helpers/recording-server.ts";
import { makeCa, offlineIdentity } from "../helpers/system.ts";

const MOVED: RecordedAnswer = [200, '{"pair":"p","relay":"relay-2"}'];
/** Lookups, each answered as the worker would for a moved pair. */
const worker = useRecordingServer(MOVED);
/** A worker that refuses the first lookup past its budget, says the pair has no data plane, then that it moved. */
const busyWorker = useRecordingServer(
  [429, '{"error":"slow down","code":"PAIR_LOOKUP_LIMITED"}'],
  [200, '{"pair":"p","relay":null}'],
  MOVED,
);
const watches: ReturnType<typeof watchForPairMove>[] = [];
afterEach(() => {
  for (const watch of watches.splice(0)) watch.stop();
  vi.useRealTimers();
});

async function identityFor(url: string) {
  const materials = await offlineIdentity(
    "acme",
    "alice",
    { relayCa: await makeCa("relay"), userCa: await makeCa("user") },
    { url },
  );
  return { materials, identity: createIdentity(materials) };
}

describe("watchForPairMove", () => {
  it("asks which data plane holds the pair, naming only dest and channel, and rejects PAIR_MOVED when it is another", async () => {
    const { materials, identity } = await identityFor(worker.url());
    // What reach-peer hands it: the attempt's ticket request, `unreachable` and all.
    const ticketRequest = { dest: "bob", channel: "c1", unreachable: ["relay-0"] };
    const watch = watchForPairMove(identity, ticketRequest, "relay-1");
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

  it("keeps waiting through a refused look (PAIR_LOOKUP_LIMITED) and one that finds no data plane, each after twice the wait", async () => {
    const { identity } = await identityFor(busyWorker.url());
    // Only the watch's own timers: the lookups are real requests to the stand-in.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const watch = watchForPairMove(identity, { dest: "bob", channel: "c1" }, "relay-1");
    let outcome: unknown;
    watch.moved.catch((error: unknown) => {
      outcome = error;
    });
    watches.push(watch);
    watch.start();
    let waitMs = WAITING_RECHECK_INITIAL_MS;
    for (const looks of [1, 2]) {
      vi.advanceTimersByTime(waitMs - 1);
      expect(busyWorker.received.length).toBe(looks - 1);
      vi.advanceTimersByTime(1);
      // The answer is in once the next look is scheduled.
      await vi.waitFor(() => expect(vi.getTimerCount()).toBe(1));
      expect(busyWorker.received.length).toBe(looks);
      expect(outcome).toBeUndefined();
      waitMs = Math.min(waitMs * 2, WAITING_RECHECK_MAX_MS);
    }
    vi.advanceTimersByTime(waitMs);
    await vi.waitFor(() => expect(outcome).toMatchObject({ code: "PAIR_MOVED" }));
    expect(busyWorker.received.length).toBe(3);
  });
});
