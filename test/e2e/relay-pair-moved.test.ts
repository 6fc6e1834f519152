import { describe, expect, it } from "vitest";
import type { ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import { createIdentity } from "../../client/identity.ts";
import { fetchTicket } from "../../client/ticket-client.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * The split a data plane crash can leave (docs/sdk.md "What connect does"): alice got her
 * ticket for data plane R and waits there; bob, whose dial to R was refused while it
 * restarted, names R unreachable and the worker moves the pair to another data plane, where
 * bob then waits. A waiting side asks the worker again now and then, learns the pair moved,
 * and follows it, instead of waiting out its connect deadline. Asking costs no ticket: every
 * ticket a side got (the audit, read from D1) is one an attempt of it used.
 */
const fx = useSystemWithPair({ dataPlane: false });

describe("a pair moved while one side waits", () => {
  it("the waiting side follows it to the data plane the worker moved it to", async () => {
    await fx.system.startDataPlane("moved-1");
    await fx.system.startDataPlane("moved-2");
    const channel = "moved";
    const events: ConnectEvent[] = [];
    let onWaiting = () => {};
    const waiting = new Promise<void>((resolve) => {
      onWaiting = resolve;
    });
    const atAlice = openChannel({
      identity: fx.alice,
      channel,
      deadlineMs: 15_000,
      onEvent: (e) => {
        events.push(e);
        if (e.type === "waiting") onWaiting();
      },
    });
    await waiting;
    const first = events.find((e) => e.type === "ticket");
    if (first?.type !== "ticket") throw new Error("alice waits without a ticket");

    // Bob's ticket request saying alice's data plane is unreachable moves the pair.
    const moved = await fetchTicket(createIdentity(fx.bob), {
      dest: "alice",
      channel,
      unreachable: [first.relay],
    });
    expect(moved.relay.name).not.toBe(first.relay);
    const bobEvents: ConnectEvent[] = [];
    const atBob = openChannel({
      identity: fx.bob,
      channel,
      deadlineMs: 15_000,
      onEvent: (e) => bobEvents.push(e),
    });

    const [toBob, toAlice] = await Promise.all([atAlice, atBob]);
    fx.sockets.push(toBob.socket, toAlice.socket);
    expect([toBob.relay, toAlice.relay]).toEqual([moved.relay.name, moved.relay.name]);
    const got = new Promise<string>((resolve) =>
      toAlice.socket.once("data", (c: Buffer) => resolve(c.toString())),
    );
    toBob.socket.write("found you");
    expect(await got).toBe("found you");
    expect(events).toContainEqual(
      expect.objectContaining({ type: "retry", error: expect.objectContaining({ code: "PAIR_MOVED" }) }),
    );
    const tickets = (events: ConnectEvent[]) => events.filter((e) => e.type === "ticket").length;
    // Alice waited through at least one look at the worker (the one that found the move).
    expect(await fx.system.admin.listTickets("acme", "alice")).toHaveLength(tickets(events));
    expect(tickets(events)).toBe(2);
    expect(await fx.system.admin.listTickets("acme", "bob")).toHaveLength(1 + tickets(bobEvents));
  });
});
