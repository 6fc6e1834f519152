import { once } from "node:events";
import type { Socket } from "node:net";
import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { TLS_HANDSHAKE_FAILED } from "../../dataplane/metrics.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import { MAX_TLS_RECORD_BYTES } from "../../dataplane/tls-record-gate.ts";
import { MAGIC } from "../../protocol/frames.ts";
import { FRELAY_SERVER_NAME } from "../../protocol/frelay.ts";
import { readAll as readToEnd, TestParty } from "../helpers/dataplane-client.ts";
import type { Party } from "../helpers/dataplane-fixtures.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";
import type { FrelayVariant, PartyCredentials } from "../helpers/frelay-client.ts";
import {
  clientHelloRecord,
  closeAllFrelaySessions,
  FrelayRefused,
  frelaySession,
  MODE_CLIENT,
  MODE_SERVER,
  startRelayAuth,
} from "../helpers/frelay-client.ts";
import type { TestCa } from "../helpers/system.ts";
import { issuePartyCertificate, makeCa } from "../helpers/system.ts";

const fx = useDataPlaneFixtures();
let userCa: TestCa;
let otherUserCa: TestCa;
/** End-to-end credentials by relay-certificate party ref. */
const endToEnd = new Map<string, PartyCredentials>();

beforeAll(async () => {
  userCa = await makeCa("alice");
  otherUserCa = await makeCa("bob");
  for (const party of [fx.a, fx.b, fx.c, fx.d]) {
    const ca = party.user === "alice" ? userCa : otherUserCa;
    const { cert, key } = await issuePartyCertificate(ca, party.user, party.party);
    endToEnd.set(party.ref, { userCa: ca.pem, partyCert: cert, partyKey: key });
  }
});
afterEach(() => closeAllFrelaySessions());

function frelay(dp: DataPlane, from: Party, to: string, tag: string, variant: FrelayVariant = "go") {
  return frelaySession({
    port: dp.port,
    variant,
    relayCa: fx.relayCa.certPem,
    relayCert: from.certPem,
    relayKey: from.keyPem,
    dest: to,
    tag,
    ...(endToEnd.get(from.ref) as PartyCredentials),
  });
}

function readAll(socket: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.once("end", () => resolve(Buffer.concat(chunks)));
    socket.once("error", reject);
  });
}

/** Both directions byte-exact, each ended on its own (half-close): a's end arrives while b still writes. */
async function exchange(a: Duplex, b: Duplex): Promise<void> {
  const aToB = Buffer.alloc(200_000, 0x61);
  const bToA = Buffer.from("reply after the peer's end");
  const atB = readAll(b);
  const atA = readAll(a);
  a.end(aToB);
  expect((await atB).equals(aToB)).toBe(true);
  b.end(bToA);
  expect((await atA).equals(bToA)).toBe(true);
}

describe("the original relay's protocol on the TLS transport", () => {
  it.each([
    ["go", "go"],
    ["c", "go"],
    ["go", "c"],
  ] as const)("pairs a %s client with a %s client: Mode 2 to the first, Mode 1 to the second", async (first, second) => {
    const dp = await fx.start();
    const a = frelay(dp, fx.a, "b", "sign0", first);
    await expect.poll(() => dp.waitingSides()).toBe(1);
    const b = await frelay(dp, fx.b, "a", "sign0", second);
    const { session, channel } = await a;
    expect([session.mode, b.session.mode]).toEqual([MODE_CLIENT, MODE_SERVER]);
    await exchange(channel, b.channel);
  });

  it("pairs a frelay client with an SDK party in direct mode, the SDK told its peer speaks frelay", async () => {
    const dp = await fx.start();
    const sdk = { ...(endToEnd.get(fx.b.ref) as PartyCredentials) };
    const identity: IdentityMaterials = {
      url: fx.worker.url,
      relayCa: fx.relayCa.certPem,
      relayCert: fx.b.certPem,
      relayKey: fx.b.keyPem,
      ...sdk,
    };
    for (const transport of ["tls", "tcp"] as const) {
      const events: string[] = [];
      const fromSdk = openChannel({
        identity,
        dest: "a",
        relay: `127.0.0.1:${dp.port}`,
        transport,
        channel: `mixed-${transport}`,
        onEvent: (e) => {
          if (e.type === "paired") events.push(`${e.role} ${e.peerProtocol}`);
        },
      });
      await expect.poll(() => dp.waitingSides()).toBe(1);
      const legacy = await frelay(dp, fx.a, "b", `mixed-${transport}`);
      const channel = await fromSdk;
      // The SDK arrived first: it is the end-to-end TLS client, as a first frelay arriver would be.
      expect([events, legacy.session.mode, channel.peerProtocol]).toEqual([
        ["client frelay"],
        MODE_SERVER,
        "frelay",
      ]);
      await exchange(legacy.channel, channel.socket);
    }
    // The other order: the frelay client waits (Mode 2, Go's ServerName = DEST check on the
    // SDK party's certificate), the SDK arrives second and is the end-to-end TLS server.
    const legacy = frelay(dp, fx.a, "b", "mixed-late-sdk");
    await expect.poll(() => dp.waitingSides()).toBe(1);
    const channel = await openChannel({
      identity,
      dest: "a",
      relay: `127.0.0.1:${dp.port}`,
      transport: "tls",
      channel: "mixed-late-sdk",
    });
    expect([(await legacy).session.mode, channel.role, channel.peerProtocol]).toEqual([
      MODE_CLIENT,
      "server",
      "frelay",
    ]);
    await exchange(channel.socket, (await legacy).channel);
  });

  it("serves Flock's own protocol from a TLS client it cannot tell from the C client (no SNI, no ALPN)", async () => {
    const dp = await fx.start();
    const dial = async (party: Party) => {
      const raw = netConnect({ host: "127.0.0.1", port: dp.port, allowHalfOpen: true });
      await new Promise((resolve) => raw.once("connect", resolve));
      const stream = tlsConnect({
        socket: raw,
        ca: fx.relayCa.certPem,
        cert: party.certPem,
        key: party.keyPem,
        checkServerIdentity: () => undefined,
        ...{ allowHalfOpen: true },
      });
      await new Promise((resolve) => stream.once("secureConnect", resolve));
      const never = new Promise<never>(() => {});
      const tp = new TestParty({ stream, gone: never, tcpEnd: never, abort: () => raw.resetAndDestroy() });
      tp.stream.write(MAGIC);
      await tp.sendDirect(party === fx.a ? "b" : "a", "gated");
      return tp;
    };
    const [a, b] = await Promise.all([dial(fx.a), dial(fx.b)]);
    await Promise.all([a.paired(), b.paired()]);
    const atB = readToEnd(b.dataStream());
    a.dataStream().end("through the gate");
    expect((await atB).toString()).toBe("through the gate");
    a.abort();
    b.abort();
  });

  it("maps an empty Tag to the default channel", async () => {
    const dp = await fx.start();
    const a = frelay(dp, fx.a, "b", "");
    const b = await frelay(dp, fx.b, "a", "default");
    await exchange((await a).channel, b.channel);
  });
});

describe("refusals of the original relay's protocol, by closing", () => {
  async function errorCount(dp: DataPlane, code: string): Promise<number> {
    const { values } = await dp.metrics.errors.get();
    return values.find((v) => (v.labels as { code?: string }).code === code)?.value ?? 0;
  }

  function auth(dp: DataPlane, from: Party, options: Partial<Parameters<typeof startRelayAuth>[0]> = {}) {
    return startRelayAuth({
      port: dp.port,
      relayCa: fx.relayCa.certPem,
      relayCert: from.certPem,
      relayKey: from.keyPem,
      dest: "b",
      tag: "t",
      ...options,
    });
  }

  it.each([
    ["a garbage AuthReq", { authRecord: "{not json" }, "BAD_FRAME"],
    ["an AuthReq that is no JSON object", { authRecord: "not json" }, "BAD_MAGIC"],
    ["an AuthReq whose DestParty is no string", { authRecord: '{"DestParty":1}' }, "BAD_FRAME"],
    [
      "an oversized AuthReq",
      { authRecord: JSON.stringify({ DestParty: "b", Tag: "x".repeat(600) }) },
      "HELLO_TOO_LARGE",
    ],
    ["an unknown dest that is no party name", { dest: "no such party" }, "BAD_FRAME"],
    ["a dest of another user", { dest: "bob/c" }, "CROSS_USER"],
    ["itself as dest", { dest: "a" }, "SAME_PARTY"],
    ["bytes right behind the AuthReq", { rawAfterAuth: Buffer.from("early") }, "EARLY_DATA"],
  ] as const)("closes on %s, and a pair beside it is not disturbed", async (_what, options, code) => {
    const dp = await fx.start();
    const beside = frelay(dp, fx.c, "d", "beside");
    const refused = auth(dp, fx.a, options);
    await expect(refused).rejects.toMatchObject({ step: "ready" });
    expect(await errorCount(dp, code)).toBe(1);
    const other = await frelay(dp, fx.d, "c", "beside");
    await exchange((await beside).channel, other.channel);
  });

  it.each([
    ["as the first record", async () => Buffer.alloc(0)],
    [
      "behind a ClientHello the gate let through",
      () => clientHelloRecord({ servername: FRELAY_SERVER_NAME }),
    ],
  ])("closes a TLS record announcing more than MAX_TLS_RECORD_BYTES %s without waiting for its body, and a pair beside it is not disturbed", async (_where, before) => {
    const dp = await fx.start();
    const beside = frelay(dp, fx.c, "d", "beside");
    const header = Buffer.from([0x16, 3, 3, 0, 0]);
    header.writeUInt16BE(MAX_TLS_RECORD_BYTES + 1, 3);
    const raw = netConnect({ host: "127.0.0.1", port: dp.port });
    // Read what the engine answers, or the end behind it is never seen.
    raw.on("error", () => {}).resume();
    raw.write(Buffer.concat([await before(), header, Buffer.alloc(64)]));
    await once(raw, "close");
    // Refused by the TLS engine, which got the record at once; waiting for the announced
    // bytes would have ended at the MAGIC deadline instead.
    expect(await errorCount(dp, TLS_HANDSHAKE_FAILED)).toBe(1);
    expect(await errorCount(dp, "HELLO_TIMEOUT")).toBe(0);
    const other = await frelay(dp, fx.d, "c", "beside");
    await exchange((await beside).channel, other.channel);
  });

  it("closes a client that never sends its AuthReq at the handshake deadline", async () => {
    const dp = await fx.start({ helloDeadlineMs: 300 });
    await expect(auth(dp, fx.a, { silent: true })).rejects.toBeInstanceOf(FrelayRefused);
    expect(await errorCount(dp, "HELLO_TIMEOUT")).toBe(1);
  });

  it("closes a waiting client that sends data before its Ready, and its peer then waits for a new one", async () => {
    const dp = await fx.start();
    let raw: Socket | undefined;
    const waiting = auth(dp, fx.a, { afterAuth: (socket) => (raw = socket) });
    await expect.poll(() => dp.waitingSides()).toBe(1);
    // Where the client's end-to-end TLS would start: raw bytes, though no Ready came.
    raw?.write("too soon");
    await expect(waiting).rejects.toMatchObject({ step: "ready" });
    expect(await errorCount(dp, "EARLY_DATA")).toBe(1);
    const b = frelay(dp, fx.b, "a", "t");
    await expect.poll(() => dp.waitingSides()).toBe(1);
    const a = await frelay(dp, fx.a, "b", "t");
    await exchange((await b).channel, a.channel);
  });

  it("refuses a revoked party and parties of another user never pair", async () => {
    const dp = await fx.start({ pairingTimeoutMs: 500 });
    fx.worker.revokedFingerprints = [fx.a.thumbprint];
    await dp.reportNow();
    await expect(auth(dp, fx.a)).rejects.toMatchObject({ step: "ready" });
    expect(await errorCount(dp, "PARTY_REVOKED")).toBe(1);
    fx.worker.revokedFingerprints = [];
    await dp.reportNow();
    // bob/c asks for "b" and alice/b for "c" under one tag: the original relay paired them, Flock never does.
    const fromBob = auth(dp, fx.c, { dest: "b", tag: "x" });
    const fromAlice = auth(dp, fx.b, { dest: "c", tag: "x" });
    await expect(fromBob).rejects.toMatchObject({ step: "ready" });
    await expect(fromAlice).rejects.toMatchObject({ step: "ready" });
    expect(await errorCount(dp, "PEER_TIMEOUT")).toBe(2);
  });

  it("holds a party to its share of waiting sides", async () => {
    const dp = await fx.start({ maxWaitingPerParty: 1 });
    const first = auth(dp, fx.a, { tag: "one" });
    await expect.poll(() => dp.waitingSides()).toBe(1);
    await expect(auth(dp, fx.a, { tag: "two" })).rejects.toMatchObject({ step: "ready" });
    expect(await errorCount(dp, "OVER_CAPACITY")).toBe(1);
    const b = await auth(dp, fx.b, { dest: "a", tag: "one" });
    expect([(await first).mode, b.mode]).toEqual([MODE_CLIENT, MODE_SERVER]);
  });

  it("replaces a stale waiter with a newer one of the same side", async () => {
    const dp = await fx.start();
    const stale = auth(dp, fx.a);
    await expect.poll(() => dp.waitingSides()).toBe(1);
    const newer = frelay(dp, fx.a, "b", "t");
    await expect(stale).rejects.toMatchObject({ step: "ready" });
    expect(await errorCount(dp, "REPLACED")).toBe(1);
    const b = await frelay(dp, fx.b, "a", "t");
    await exchange((await newer).channel, b.channel);
  });
});
