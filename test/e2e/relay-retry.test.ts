import { describe, expect, it } from "vitest";
import type { ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * Retries driven by events, not by clocks: the second party starts only once the first
 * has reported the failure it is retrying.
 */
const fx = useSystemWithPair({ dataPlane: false });

/** Opens alice's side and resolves `retried` on her first retry of `code`. */
function aliceRetrying(code: string, channel: string) {
  let onRetry: (event: ConnectEvent) => void = () => {};
  const retried = new Promise<ConnectEvent>((resolve) => {
    onRetry = (event) => {
      if (event.type === "retry" && event.error.code === code) resolve(event);
    };
  });
  const opened = openChannel({ identity: fx.alice, channel, deadlineMs: 25_000, onEvent: (e) => onRetry(e) });
  return { retried, opened };
}

describe("connect retries with a fresh ticket", () => {
  it("waits out NO_RELAY_AVAILABLE until a data plane reports", async () => {
    const { retried, opened } = aliceRetrying("NO_RELAY_AVAILABLE", "late-relay");
    await retried;
    await fx.system.startDataPlane("relay-1", { pairingTimeoutMs: 400 });
    const [a, b] = await Promise.all([
      opened,
      openChannel({ identity: fx.bob, channel: "late-relay", deadlineMs: 25_000 }),
    ]);
    fx.sockets.push(a.socket, b.socket);
    expect([a.peer, b.peer]).toEqual(["acme/bob", "acme/alice"]);
  });

  it("dials again after the data plane's PEER_TIMEOUT and pairs with a peer that came later", async () => {
    const { retried, opened } = aliceRetrying("PEER_TIMEOUT", "late-peer");
    await retried;
    const [a, b] = await Promise.all([
      opened,
      openChannel({ identity: fx.bob, channel: "late-peer", deadlineMs: 25_000 }),
    ]);
    fx.sockets.push(a.socket, b.socket);
    a.socket.end("after a retry");
    const got = await new Promise<string>((resolve) => {
      let text = "";
      b.socket.on("data", (c: Buffer) => {
        text += c.toString();
      });
      b.socket.once("end", () => resolve(text));
    });
    expect(got).toBe("after a retry");
  });
});
