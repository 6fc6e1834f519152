/**
 * The worker goes away (an outage, a bad deploy) while data planes keep running: what they
 * learned from it keeps them working. Tickets it signed before it went down are still
 * verified with the ticket keys the data plane cached, and direct mode, which needs no
 * worker, keeps pairing end to end on the last revocation list the data plane heard.
 */
import type { Duplex } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import type { ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import { dialRelay } from "../../client/dial.ts";
import { relayHandshake } from "../../client/handshake.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { createIdentity } from "../../client/identity.ts";
import { relayKeyMaterial } from "../../client/relay-key-material.ts";
import { fetchTicket } from "../../client/ticket-client.ts";
import type { TicketResponse } from "../../protocol/api.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

const fx = useSystemWithPair();
/** Fetched while the worker was up, presented after it went down. */
let tickets: [TicketResponse, TicketResponse];

beforeAll(async () => {
  tickets = await Promise.all([
    fetchTicket(fx.alice, { dest: "bob", channel: "before-the-outage" }),
    fetchTicket(fx.bob, { dest: "alice", channel: "before-the-outage" }),
  ]);
  await fx.system.worker.stop();
  // The data plane finds the worker gone: its next report fails, and it keeps what it knew.
  await fx.system.dataPlanes[0]?.reportNow();
});

async function presentTicket(identity: IdentityMaterials, ticket: TicketResponse): Promise<Duplex> {
  const { key, certDer } = relayKeyMaterial(identity);
  const stream = await dialRelay(
    { name: ticket.relay.name, host: ticket.relay.hosts[0] as string, port: ticket.relay.port },
    "tcp",
    createIdentity(identity),
  );
  fx.sockets.push(stream);
  await relayHandshake(stream, { ticket: ticket.ticket, relayCertDer: certDer, relayKey: key });
  return stream;
}

function firstBytes(stream: Duplex): Promise<string> {
  return new Promise((resolve) => stream.once("data", (chunk: Buffer) => resolve(chunk.toString())));
}

describe("while the worker is unreachable", () => {
  it("a data plane verifies tickets with the keys it cached, and pairs them", async () => {
    const [toBob, toAlice] = await Promise.all([
      presentTicket(fx.alice, tickets[0]),
      presentTicket(fx.bob, tickets[1]),
    ]);
    const arrived = firstBytes(toAlice);
    toBob.write("signed before the outage");
    expect(await arrived).toBe("signed before the outage");
  });

  it("direct mode keeps pairing end to end, and the SDK says it has no fresh revocation list", async () => {
    const events: ConnectEvent[] = [];
    const open = (identity: IdentityMaterials) =>
      openChannel({
        identity,
        relay: `127.0.0.1:${fx.system.dataPlanes[0]?.port}`,
        channel: "during-the-outage",
        deadlineMs: 20_000,
        onEvent: (event) => events.push(event),
      });
    const [a, b] = await Promise.all([open(fx.alice), open(fx.bob)]);
    fx.sockets.push(a.socket, b.socket);
    expect([a.peer, b.peer]).toEqual(["acme/bob", "acme/alice"]);
    const arrived = firstBytes(b.socket);
    a.socket.write("no worker needed");
    expect(await arrived).toBe("no worker needed");
    expect(events.filter((e) => e.type === "revocations-unavailable")).toHaveLength(2);
  });
});
