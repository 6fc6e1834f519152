import { beforeAll, describe, expect, it } from "vitest";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/** Seed-compatible direct mode: no ticket, the relay certificate authorises the pair. */
const fx = useSystemWithPair();
let relayAddress: string;

beforeAll(() => {
  relayAddress = `127.0.0.1:${fx.system.dataPlanes[0]?.port}`;
});

describe.each(["tcp", "tls", "wss"] as const)("direct mode over %s", (transport) => {
  it("pairs two parties by relay certificate and tag, with end-to-end mTLS", async () => {
    const open = (identity: IdentityMaterials) =>
      openChannel({
        identity,
        relay: relayAddress,
        transport,
        channel: `tag-${transport}`,
        deadlineMs: 20_000,
      });
    const [a, b] = await Promise.all([open(fx.alice), open(fx.bob)]);
    fx.sockets.push(a.socket, b.socket);
    expect([a.peer, b.peer, a.relay]).toEqual(["acme/bob", "acme/alice", "relay-1"]);
    b.socket.pipe(b.socket);
    const echoed = new Promise<string>((resolve) => {
      let text = "";
      a.socket.on("data", (c: Buffer) => {
        text += c.toString();
      });
      a.socket.once("end", () => resolve(text));
    });
    a.socket.end("direct");
    expect(await echoed).toBe("direct");
  });
});

it("refuses a relay address that is not host:port", async () => {
  await expect(openChannel({ identity: fx.alice, relay: "relay-1" })).rejects.toMatchObject({
    code: "CONFIG_INVALID",
  });
});
