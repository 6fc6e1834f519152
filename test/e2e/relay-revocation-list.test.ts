import { readFile } from "node:fs/promises";
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer } from "node:net";
import * as tls from "node:tls";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKey } from "../../cli/certs/keys.ts";
import { userPaths } from "../../cli/certs/layout.ts";
import { revokeParty } from "../../cli/commands/revoke.ts";
import { type ConnectEvent, openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { encodeFrame } from "../../protocol/frames.ts";
import { signRevocationList } from "../../protocol/revocation-list.ts";
import { readHello } from "../helpers/fake-relay.ts";
import type { FlockSystem, SystemRelay } from "../helpers/system.ts";
import { startSystem } from "../helpers/system.ts";

/**
 * A relay that holds a party's leaked keys (here: bob's real party certificate and key) and
 * pairs whoever comes with them, as a fake or compromised data plane would, in direct mode and
 * with a ticket the worker issued for it. The SDK must refuse bob once its user's signed
 * revocation list names him, though this relay never checks anything.
 */
let system: FlockSystem;
let fakeRelay: SystemRelay;
/** One fake answers direct mode on any port, the other on the port the worker's tickets name. */
let direct: Server;
let ticketed: Server;
const fakeSockets: Socket[] = [];
/** The leaked identity the fake relay plays, per user. */
const leaked = new Map<string, IdentityMaterials>();
const alices = new Map<string, IdentityMaterials>();
/** Whose alice dials in direct mode (a direct hello names only the destination). */
let currentUser = "";

function pairWithLeakedKeys(socket: Socket): void {
  fakeSockets.push(socket);
  socket.on("error", () => {});
  readHello(socket, "fake").then(
    (hello) => {
      const { peer, role, pair } =
        hello.type === "hello"
          ? (decodeJwt(hello.ticket) as { peer: string; role: "client" | "server"; pair: string })
          : { peer: `${currentUser}/${hello.dest}`, role: "client" as const, pair: "fake-pair" };
      const bob = leaked.get(peer.split("/")[0] ?? "") as IdentityMaterials;
      socket.write(encodeFrame({ type: "paired", peer, role, pair }));
      const options = { cert: bob.partyCert, key: bob.partyKey, rejectUnauthorized: false };
      const end =
        role === "client"
          ? new tls.TLSSocket(socket, { isServer: true, requestCert: true, ...options })
          : tls.connect({ socket, ...options });
      end.on("error", () => {});
      // bob's real certificate passes every check but the revocation list: say "accepted".
      end.write(Buffer.from([0x01]));
    },
    () => {},
  );
}

async function users(...names: string[]): Promise<void> {
  for (const user of names) {
    await system.createUser(user);
    alices.set(user, await system.party(user, "alice", "bob"));
    leaked.set(user, await system.party(user, "bob", "alice"));
  }
}

function inDirectMode(user: string) {
  currentUser = user;
  const { port } = direct.address() as AddressInfo;
  return openChannel({ identity: alices.get(user), relay: `127.0.0.1:${port}`, deadlineMs: 20_000 });
}

function withTicket(user: string, onEvent?: (event: ConnectEvent) => void) {
  return openChannel({ identity: alices.get(user), deadlineMs: 20_000, ...(onEvent ? { onEvent } : {}) });
}

const listen = (server: Server, port: number) =>
  new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));

beforeAll(async () => {
  system = await startSystem({ dataPlane: false });
  await users("open", "revoked", "missed");
  direct = createServer(pairWithLeakedKeys);
  await listen(direct, 0);
  fakeRelay = await system.registerRelay("fake");
  ticketed = createServer(pairWithLeakedKeys);
  await listen(ticketed, fakeRelay.port);
  await system.reportLoad(fakeRelay);
});
afterAll(async () => {
  for (const s of fakeSockets) s.destroy();
  for (const server of [direct, ticketed]) await new Promise((resolve) => server?.close(resolve));
  await system?.stop();
});

describe("a relay holding a revoked party's leaked keys", () => {
  it("does pair that party while its user has revoked nothing: the keys are real", async () => {
    for (const open of [inDirectMode, withTicket]) {
      const channel = await open("open");
      expect(channel.peer).toBe("open/bob");
      channel.socket.destroy();
    }
  });

  it("cannot get it accepted in direct mode once `flock revoke party` published the list", async () => {
    const { published } = await revokeParty(system.admin, "revoked", "bob", system.certsDir);
    expect(published.list).toMatchObject({ user: "revoked", seq: 1, parties: ["bob"] });
    await expect(inDirectMode("revoked")).rejects.toMatchObject({
      code: "DEST_REVOKED",
      message: "Party bob is on the revocation list its user published; it is refused.",
    });
  });

  it("cannot get it accepted with a ticket either, even from a worker whose registry missed the revocation", async () => {
    // The list names bob, the registry does not: the worker still hands out a ticket to bob.
    const paths = userPaths(system.certsDir, "missed");
    const caKey = await loadKey(await readFile(paths.caKey, "utf8"), paths.caKey);
    const list = await signRevocationList(caKey.keys.privateKey, "ES256", {
      user: "missed",
      seq: 1,
      iat: Math.floor(Date.now() / 1000),
      parties: ["bob"],
    });
    await system.admin.publishRevocationList("missed", list);
    const events: string[] = [];
    await expect(
      openChannel({
        identity: alices.get("missed"),
        deadlineMs: 20_000,
        onEvent: (e) => events.push(e.type),
      }),
    ).rejects.toMatchObject({ code: "DEST_REVOKED" });
    expect(events).toEqual(["ticket", "dialed", "paired"]);
  });
});
