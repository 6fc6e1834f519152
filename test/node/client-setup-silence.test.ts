import { afterEach, describe, expect, it } from "vitest";
import { SetupSilence } from "../../client/setup-silence.ts";
import type { FlockError } from "../../protocol/errors.ts";

const watches: SetupSilence[] = [];
afterEach(() => {
  for (const watch of watches.splice(0)) watch.stop();
});

/** A watch over a byte count the test moves, and the PEER_SILENT it reports. */
function watched(silenceMs: number) {
  let bytes = 0;
  let expired = 0;
  const watch = new SetupSilence(
    () => bytes,
    silenceMs,
    () => expired++,
  );
  watches.push(watch);
  const silent = new Promise<FlockError>((resolve) => watch.whileWaiting(resolve));
  return {
    watch,
    silent,
    heard: (n: number) => {
      bytes += n;
    },
    expired: () => expired,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the setup's silence bound", () => {
  it("reports PEER_SILENT once nothing was heard for the bound, and runs onExpired once", async () => {
    const { silent, expired } = watched(100);
    await expect(silent).resolves.toMatchObject({
      code: "PEER_SILENT",
      message: expect.stringContaining("100 ms"),
    });
    expect(expired()).toBe(1);
  });

  it("tells a step that starts waiting after the bound passed, on the next tick", async () => {
    const { watch, silent } = watched(100);
    await silent;
    const late = await new Promise<FlockError>((resolve) => watch.whileWaiting(resolve));
    expect(late.code).toBe("PEER_SILENT");
  });

  it("bounds silence, not time: bytes every quarter of the bound keep it quiet for four times the bound", async () => {
    const { silent, heard } = watched(200);
    let fired = false;
    void silent.then(() => {
      fired = true;
    });
    for (let n = 0; n < 16; n++) {
      heard(1);
      await sleep(50);
    }
    expect(fired).toBe(false);
  });

  it("takes a late tick for a busy process, not a silent peer", async () => {
    const { silent } = watched(200);
    let fired = false;
    void silent.then(() => {
      fired = true;
    });
    // The event loop is held past the bound: the peer's bytes could be waiting in the kernel.
    const until = Date.now() + 400;
    while (Date.now() < until) {}
    await sleep(0);
    expect(fired).toBe(false);
    await silent;
  });

  it("tells nobody once the step withdrew or the watch stopped", async () => {
    const withdrawn = watched(50);
    let told = 0;
    const stopWaiting = withdrawn.watch.whileWaiting(() => told++);
    stopWaiting();
    const stopped = watched(50);
    stopped.watch.whileWaiting(() => told++);
    stopped.watch.stop();
    await sleep(200);
    expect(told).toBe(0);
    expect(stopped.expired()).toBe(0);
  });
});
