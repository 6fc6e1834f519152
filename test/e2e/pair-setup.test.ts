import dc from "node:diagnostics_channel";
import { once } from "node:events";
import type { ClientRequest } from "node:http";
import type { Socket } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import type { Channel, ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { PeerChannel } from "../../client/connect-many.ts";
import { openChannels } from "../../client/connect-many.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { MAX_TICKETS_PER_REQUEST } from "../../protocol/api.ts";
import { TICKETS_PATH } from "../../protocol/wire.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

const fx = useSystemWithPair();
const PEERS = ["carol", "dave", "erin"];
const identities = new Map<string, IdentityMaterials>();

beforeAll(async () => {
  for (const name of PEERS) identities.set(name, await fx.system.party("acme", name, "alice"));
});

/** Ticket requests this process sends while `run` runs. */
async function countingTicketRequests<T>(run: () => Promise<T>): Promise<{ result: T; requests: number }> {
  let requests = 0;
  const onRequest = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    if (request.method === "POST" && request.path === TICKETS_PATH) requests++;
  };
  dc.subscribe("http.client.request.start", onRequest);
  try {
    return { result: await run(), requests };
  } finally {
    dc.unsubscribe("http.client.request.start", onRequest);
  }
}

/** Each peer's own openChannel to alice, resolved once it holds its ticket (so it asks no more). */
async function peersDialingAlice(names: string[], channel: string) {
  const ticketed: Promise<unknown>[] = [];
  const channels = names.map((name) => {
    let ticket: () => void = () => {};
    ticketed.push(new Promise<void>((resolve) => (ticket = resolve)));
    const onEvent = (event: ConnectEvent) => event.type === "ticket" && ticket();
    const identity = identities.get(name) as IdentityMaterials;
    return openChannel({ identity, channel, deadlineMs: 20_000, onEvent }).then((c) => {
      fx.sockets.push(c.socket);
      return c;
    });
  });
  await Promise.all(ticketed);
  return channels;
}

function opened(outcome: PeerChannel | undefined): Channel {
  if (!outcome?.ok) throw new Error(`no channel: ${outcome?.ok === false ? outcome.error.message : "none"}`);
  fx.sockets.push(outcome.channel.socket);
  return outcome.channel;
}

describe("openChannels", () => {
  it("gives each peer its own ticket and stream, from one ticket request", async () => {
    const theirs = await peersDialingAlice(PEERS, "mpc-1");
    const events: string[] = [];
    const { result, requests } = await countingTicketRequests(() =>
      openChannels({
        identity: fx.alice,
        peers: PEERS,
        channel: "mpc-1",
        deadlineMs: 20_000,
        onEvent: (event, peer) => event.type === "ticket" && events.push(peer),
      }),
    );
    expect(requests).toBe(1);
    expect(result.map((r) => r.peer)).toEqual(PEERS);
    const mine = result.map(opened);
    expect(mine.map((c) => c.peer)).toEqual(PEERS.map((p) => `acme/${p}`));
    expect(new Set(mine.map((c) => c.pair)).size).toBe(PEERS.length);
    expect(events.sort()).toEqual([...PEERS].sort());
    const remote = await Promise.all(theirs);
    for (const [i, channel] of mine.entries()) {
      const peer = remote[i] as Channel;
      expect(peer.pair).toBe(channel.pair);
      channel.socket.write(`to ${PEERS[i]}`);
      const [chunk] = await once(peer.socket, "data");
      expect(String(chunk)).toBe(`to ${PEERS[i]}`);
    }
  });

  it.each([
    ["does not exist", "carol", "nobody", "UNKNOWN_DEST", 20_000],
    ["never comes", "dave", "erin", "CONNECT_TIMEOUT", 2_000],
  ] as const)("reports a peer that %s for that peer alone", async (_, good, bad, code, deadlineMs) => {
    const channel = `mpc-${bad}`;
    const [theirs] = await peersDialingAlice([good], channel);
    const result = await openChannels({ identity: fx.alice, peers: [good, bad], channel, deadlineMs });
    expect(opened(result[0]).peer).toBe(`acme/${good}`);
    expect((await theirs)?.peer).toBe("acme/alice");
    const failed = result[1];
    expect(failed?.ok === false && [failed.peer, failed.error.code]).toEqual([bad, code]);
  });

  it("refuses more peers than one ticket request may name, before asking the worker", async () => {
    const peers = Array.from({ length: MAX_TICKETS_PER_REQUEST + 1 }, (_, i) => `p${i}`);
    const { result, requests } = await countingTicketRequests(() =>
      openChannels({ identity: fx.alice, peers }).catch((error: unknown) => error),
    );
    expect(result).toMatchObject({ code: "CONFIG_INVALID" });
    expect(requests).toBe(0);
  });

  it("refuses a peer named twice and an empty list", async () => {
    await expect(openChannels({ identity: fx.alice, peers: ["carol", "carol"] })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
    await expect(openChannels({ identity: fx.alice, peers: [] })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
  });
});

describe("a warm party's next pair", () => {
  it("is dialled to the data plane of its last one before its ticket is in hand", async () => {
    const first = await Promise.all([
      openChannel({ identity: fx.alice, channel: "warm-1", deadlineMs: 20_000 }),
      openChannel({ identity: fx.bob, channel: "warm-1", deadlineMs: 20_000 }),
    ]);
    for (const c of first) fx.sockets.push(c.socket);
    // Sockets made while alice alone is connecting: bob starts once her ticket is there.
    const made: { socket: Socket; beforeTicket: boolean }[] = [];
    let ticketed = false;
    const onSocket = (message: unknown) =>
      made.push({ socket: (message as { socket: Socket }).socket, beforeTicket: !ticketed });
    dc.subscribe("net.client.socket", onSocket);
    let bob: Promise<Channel> | undefined;
    try {
      const alice = await openChannel({
        identity: fx.alice,
        channel: "warm-2",
        deadlineMs: 20_000,
        onEvent: (event) => {
          if (event.type !== "ticket") return;
          ticketed = true;
          bob = openChannel({ identity: fx.bob, channel: "warm-2", deadlineMs: 20_000 });
        },
      });
      fx.sockets.push(alice.socket, (await bob)?.socket as Channel["socket"]);
    } finally {
      dc.unsubscribe("net.client.socket", onSocket);
    }
    const relayPort = fx.system.dataPlanes[0]?.port;
    const toRelay = made.filter((m) => m.socket.remotePort === relayPort);
    // Alice's one connection, made before her ticket (none made again after it), then bob's.
    expect(toRelay.map((m) => m.beforeTicket)).toEqual([true, false]);
  });
});
