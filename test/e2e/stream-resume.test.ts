import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { Transport } from "../../client/dial.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import { digestToEnd, sha256 } from "../helpers/stream-digest.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * Resume in ticket mode: the data plane carrying a pair stops dead mid-transfer while another
 * one runs. Both sides get a fresh ticket for the session's resume channel (the worker, told
 * the dead one is unreachable, assigns another), re-run the end-to-end mTLS, prove the session
 * and resend what the other lacks: the application sees only a delay.
 */
const PAYLOAD_BYTES = 8 * 1024 * 1024;

const fx = useSystemWithPair({ dataPlane: false });
let relays = 0;

describe.each(["tcp", "tls", "ws", "wss"] as const)("over %s", (transport: Transport) => {
  it("survives the death of the data plane carrying the pair, byte-exact both ways", async () => {
    await fx.system.startDataPlane(`resume-${++relays}`);
    await fx.system.startDataPlane(`resume-${++relays}`);
    const events: ConnectEvent[] = [];
    const open = (identity: IdentityMaterials) =>
      openChannel({ identity, transport, channel: `resume-${transport}`, onEvent: (e) => events.push(e) });
    const [toBob, toAlice] = await Promise.all([open(fx.alice), open(fx.bob)]);
    fx.sockets.push(toBob.socket, toAlice.socket);
    expect([toBob.framed, toAlice.framed]).toEqual([true, true]);
    const carrying = fx.system.dataPlanes.find((p) => p.name === toBob.relay) as DataPlane;

    const toB = randomBytes(PAYLOAD_BYTES);
    const toA = randomBytes(PAYLOAD_BYTES / 4);
    const atBob = digestToEnd(toAlice.socket, PAYLOAD_BYTES / 4, () => void carrying.stop());
    const atAlice = digestToEnd(toBob.socket);
    toBob.socket.end(toB);
    toAlice.socket.end(toA);
    const [gotB, gotA] = await Promise.all([atBob, atAlice]);
    expect(gotB).toBe(sha256(toB));
    expect(gotA).toBe(sha256(toA));
    expect(events.filter((e) => e.type === "resumed")).toHaveLength(2);
    // Each side's resume went through a ticket for another data plane (the worker still
    // listed the dead one as live; the first failed dial named it unreachable).
    const afterBreak = events.slice(events.findIndex((e) => e.type === "broken"));
    const resumedOn = afterBreak.filter((e) => e.type === "ticket").map((e) => e.relay);
    expect(resumedOn.at(-1)).not.toBe(carrying.name);
  });
});
