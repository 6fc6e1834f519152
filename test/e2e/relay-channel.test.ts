import { createHash, randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { Channel } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { Transport } from "../../client/dial.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import { digestToEnd } from "../helpers/stream-digest.ts";
import { issuePartyCertificate, makeCa } from "../helpers/system.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

const TRANSFER_BYTES = 64 * 1024 * 1024;
/** 64 MB through two TLS layers on a busy 2-core machine can take more than the default 30 s. */
const TRANSFER_TEST_TIMEOUT_MS = 120_000;
const CHUNK_BYTES = 1024 * 1024;
/** More than the socket buffers hold, so a transport torn down early would lose a tail. */
const CLOSE_TEST_BYTES = 16 * 1024 * 1024;

const fx = useSystemWithPair();
/** Errors on channel sockets; tests where none may happen assert it stays empty. */
const socketErrors: Error[] = [];

afterEach(() => {
  socketErrors.splice(0);
});

async function pair(
  a: Transport,
  b: Transport,
  identities: [IdentityMaterials, IdentityMaterials] = [fx.alice, fx.bob],
  channel?: string,
): Promise<[Channel, Channel]> {
  const open = (identity: IdentityMaterials, transport: Transport) =>
    openChannel({ identity, transport, deadlineMs: 20_000, ...(channel ? { channel } : {}) }).then((c) => {
      fx.sockets.push(c.socket);
      c.socket.on("error", (error) => socketErrors.push(error));
      return c;
    });
  return Promise.all([open(identities[0], a), open(identities[1], b)]);
}

function collect(socket: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.once("end", () => resolve(Buffer.concat(chunks)));
    socket.once("error", reject);
  });
}

describe.each([
  ["tcp", "tcp"],
  ["tls", "tls"],
  ["ws", "ws"],
  ["wss", "wss"],
  ["tcp", "wss"],
  ["tls", "ws"],
] as const)("a pair over %s and %s", (a, b) => {
  it("proves both names and echoes bytes back through a half-close", async () => {
    const [toBob, toAlice] = await pair(a, b);
    expect([toBob.peer, toAlice.peer]).toEqual(["acme/bob", "acme/alice"]);
    expect(new Set([toBob.role, toAlice.role])).toEqual(new Set(["client", "server"]));
    expect(toBob.peerCertificate.subjectAltName).toBe("URI:urn:flock:party:acme:bob, DNS:bob");
    expect(toAlice.peerCertificate.subjectAltName).toBe("URI:urn:flock:party:acme:alice, DNS:alice");
    toAlice.socket.pipe(toAlice.socket);
    const echoed = collect(toBob.socket);
    toBob.socket.end("hello through the relay");
    expect((await echoed).toString()).toBe("hello through the relay");
    expect(socketErrors).toEqual([]);
  });

  it(
    "moves 64 MB byte-exact",
    async () => {
      const [toBob, toAlice] = await pair(a, b);
      const received = digestToEnd(toAlice.socket);
      const sent = createHash("sha256");
      for (let offset = 0; offset < TRANSFER_BYTES; offset += CHUNK_BYTES) {
        const chunk = randomBytes(CHUNK_BYTES);
        sent.update(chunk);
        if (!toBob.socket.write(chunk)) await new Promise((resolve) => toBob.socket.once("drain", resolve));
      }
      toBob.socket.end();
      expect(await received).toBe(sent.digest("hex"));
      expect(socketErrors).toEqual([]);
    },
    TRANSFER_TEST_TIMEOUT_MS,
  );

  it(
    "delivers every byte when the receiver has already ended its side, and the relay sees a clean close",
    async () => {
      const relay = fx.system.dataPlanes[0] as DataPlane;
      const ends = async () => {
        const { values } = await relay.metrics.pairEnds.get();
        const count = (reason: string) => values.find((v) => v.labels.reason === reason)?.value ?? 0;
        return { closed: count("closed"), reset: count("reset") };
      };
      // Earlier tests' pairs must have ended, or their ends would be counted as this one's.
      while (relay.activePairs() + relay.waitingSides() > 0) await new Promise((r) => setTimeout(r, 10));
      const before = await ends();
      const [toBob, toAlice] = await pair(a, b);
      const received = collect(toAlice.socket);
      // As `flock connect < /dev/null` does: Alice's side is done before anything arrives,
      // so Bob's TLS socket closes its transport as soon as its own end is written.
      toAlice.socket.end();
      const sent = randomBytes(CLOSE_TEST_BYTES);
      toBob.socket.end(sent);
      expect((await received).equals(sent)).toBe(true);
      const ended = async () => {
        const now = await ends();
        return now.closed + now.reset > before.closed + before.reset ? now : undefined;
      };
      let after = await ended();
      while (after === undefined) {
        await new Promise((r) => setTimeout(r, 10));
        after = await ended();
      }
      expect(after).toEqual({ closed: before.closed + 1, reset: before.reset });
      expect(socketErrors).toEqual([]);
    },
    TRANSFER_TEST_TIMEOUT_MS,
  );

  it("ends the other side when a peer vanishes mid-stream", async () => {
    const [toBob, toAlice] = await pair(a, b);
    const firstBytes = new Promise((resolve) => toAlice.socket.once("data", resolve));
    const aliceSaw = new Promise<string>((resolve) => {
      toBob.socket.once("end", () => resolve("end"));
      toBob.socket.once("error", () => resolve("error"));
    });
    toBob.socket.resume();
    toBob.socket.write(randomBytes(1024));
    toAlice.socket.write("some bytes before dying");
    await firstBytes;
    // Bob's process dies: no close_notify, the transport is simply gone.
    toAlice.socket.destroy();
    expect(["end", "error"]).toContain(await aliceSaw);
  });
});

describe("who may pair", () => {
  it("refuses, on both sides, a peer whose party certificate comes from another user's CA", async () => {
    const rogueCa = await makeCa("rogue");
    const forged = await issuePartyCertificate(rogueCa, "acme", "bob");
    // The relay certificate is bob's real one, so the data plane pairs them; only the
    // end-to-end check can tell, and it must refuse on both ends.
    const fakeBob = { ...fx.bob, userCa: rogueCa.pem, partyCert: forged.cert, partyKey: forged.key };
    const results = await Promise.allSettled([
      openChannel({ identity: fx.alice, channel: "forged", deadlineMs: 20_000 }),
      openChannel({ identity: fakeBob, channel: "forged", deadlineMs: 20_000 }),
    ]);
    for (const r of results) if (r.status === "fulfilled") fx.sockets.push(r.value.socket);
    expect(results).toEqual([
      expect.objectContaining({
        status: "rejected",
        reason: expect.objectContaining({ code: "PEER_IDENTITY_MISMATCH" }),
      }),
      expect.objectContaining({
        status: "rejected",
        reason: expect.objectContaining({ code: "PEER_IDENTITY_MISMATCH" }),
      }),
    ]);
  });

  it("raises UNKNOWN_DEST at once instead of retrying", async () => {
    await expect(
      openChannel({ identity: fx.alice, dest: "nobody", deadlineMs: 60_000 }),
    ).rejects.toMatchObject({
      code: "UNKNOWN_DEST",
    });
  });

  it("gives up with CONNECT_TIMEOUT when the peer never comes within the deadline", async () => {
    await expect(
      openChannel({ identity: fx.alice, channel: "lonely", deadlineMs: 1_500 }),
    ).rejects.toMatchObject({
      code: "CONNECT_TIMEOUT",
    });
  });
});
