import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Channel } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import type { CrossWiringRelay, Hello } from "../helpers/cross-wiring-relay.ts";
import { startCrossWiringRelay } from "../helpers/cross-wiring-relay.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * The binding of wire version 2, against a relay that joins the wrong sides: registered with
 * the worker (tickets name it), it pairs alice's `payments` with bob's `logs`. The parties'
 * certificates are right and the end-to-end TLS works; only the OPEN frames can tell.
 */
const fx = useSystemWithPair({ dataPlane: false });
let relay: CrossWiringRelay;
let wire: (a: Hello, b: Hello) => boolean;

beforeAll(async () => {
  const registered = await fx.system.registerRelay("crosswire");
  relay = await startCrossWiringRelay(registered, (a, b) => wire(a, b));
  await fx.system.reportLoad(registered);
});
afterAll(async () => {
  await relay?.close();
});

const open = (identity: IdentityMaterials, channel: string, stream: { framing?: boolean } = {}) =>
  openChannel({ identity, channel, deadlineMs: 10_000, stream });

describe("a relay that cross-wires two channels", () => {
  it("is refused on both sides with CHANNEL_MISMATCH", async () => {
    wire = (a, b) => a.self === "acme/alice" && a.channel === "payments" && b.channel === "logs";
    const results = await Promise.allSettled([open(fx.alice, "payments"), open(fx.bob, "logs")]);
    for (const result of results) {
      if (result.status === "fulfilled") result.value.socket.destroy();
      expect(result).toMatchObject({ status: "rejected", reason: { code: "CHANNEL_MISMATCH" } });
    }
  });

  it("goes unnoticed by version-1 peers, which is why version 2 exists", async () => {
    wire = (a, b) => a.self === "acme/alice" && a.channel === "raw-payments" && b.channel === "raw-logs";
    const [a, b] = await Promise.all([
      open(fx.alice, "raw-payments", { framing: false }),
      open(fx.bob, "raw-logs", { framing: false }),
    ]);
    expect([a.framed, b.framed]).toEqual([false, false]);
    const got = new Promise<string>((resolve) => b.socket.once("data", (c: Buffer) => resolve(c.toString())));
    a.socket.write("meant for payments");
    expect(await got).toBe("meant for payments");
    for (const c of [a, b]) c.socket.destroy();
  });

  it("still pairs the right sides, framed, when it wires them right", async () => {
    wire = (a, b) => a.channel === b.channel && a.self !== b.self;
    const [a, b] = await Promise.all([open(fx.alice, "orders"), open(fx.bob, "orders")]);
    expect([a.framed, b.framed]).toEqual([true, true]);
    await expect(echo(a, b, "through an honest wiring")).resolves.toBe("through an honest wiring");
  });
});

function echo(from: Channel, to: Channel, text: string): Promise<string> {
  to.socket.pipe(to.socket);
  const chunks: Buffer[] = [];
  from.socket.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<string>((resolve, reject) => {
    from.socket.once("end", () => resolve(Buffer.concat(chunks).toString()));
    from.socket.once("error", reject);
  });
  from.socket.end(text);
  return done;
}
