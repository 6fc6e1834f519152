import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../cli/api-client.ts";
import { generateKey } from "../../cli/certs/keys.ts";
import { certsRoot, partyPaths, relayCaPath, relayPaths, userPaths } from "../../cli/certs/layout.ts";
import { publishRevocations } from "../../cli/certs/revocation-list.ts";
import { createParty, createRelay, createUser } from "../../cli/commands/create.ts";
import { deleteUser } from "../../cli/commands/delete.ts";
import { login } from "../../cli/commands/login.ts";
import { revokeParty, revokeRelay } from "../../cli/commands/revoke.ts";
import { fetchTicket } from "../../cli/commands/ticket.ts";
import { readConfigFile } from "../../cli/config.ts";
import { UserError } from "../../cli/output.ts";
import type { RelayLoad, RelayReportResponse } from "../../protocol/api.ts";
import { certificateThumbprint } from "../../protocol/encoding.ts";
import { FlockError } from "../../protocol/errors.ts";
import { signRevocationList, verifyRevocationList } from "../../protocol/revocation-list.ts";
import { SIGNED_REQUEST_CONTENT_TYPE, signRequest } from "../../protocol/signed-request.ts";
import { startTestWorker, type TestWorker } from "../helpers/local-worker.ts";

interface Recorded {
  method: string;
  path: string;
  body: string;
}

/** A pass-through in front of the worker that keeps every request body, to prove what the CLI sends. */
async function recordingProxy(target: string, log: Recorded[]): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    log.push({ method: req.method ?? "", path: req.url ?? "", body });
    const headers: Record<string, string> = {};
    for (const name of ["authorization", "content-type"]) {
      const value = req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const upstream = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers,
      body: body === "" ? undefined : body,
    });
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "text/plain" });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const thumbprintOf = (pem: string) => certificateThumbprint(new Uint8Array(new X509Certificate(pem).raw));

describe("admin commands against a real local worker", () => {
  let worker: TestWorker;
  let proxy: { url: string; server: Server };
  const sent: Recorded[] = [];
  let client: ApiClient;
  let cwd: string;
  let otherCwd: string;
  let certsDir: string;

  beforeAll(async () => {
    worker = await startTestWorker();
    proxy = await recordingProxy(worker.url, sent);
    client = new ApiClient({ url: proxy.url, token: worker.adminToken });
    cwd = await mkdtemp(join(tmpdir(), "flock-cli-"));
    otherCwd = await mkdtemp(join(tmpdir(), "flock-cli-other-"));
    certsDir = certsRoot(cwd);
  });

  afterAll(async () => {
    proxy?.server.closeAllConnections();
    await new Promise((r) => proxy?.server.close(r));
    await worker?.cleanup();
    for (const dir of [cwd, otherCwd]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("create user registers the name and writes the user CA locally, key mode 0600", async () => {
    const created = await createUser({ client, certsDir }, "alice");
    const paths = userPaths(certsDir, "alice");
    expect(created.item.name).toBe("alice");
    expect(created.files).toEqual([paths.caKey, paths.caCert]);
    expect(await mode(paths.caKey)).toBe(0o600);
    expect(new X509Certificate(await readFile(paths.caCert, "utf8")).ca).toBe(true);
  });

  it("create party writes relay and party keys 0600, a relay cert for that key and a party cert from the user CA", async () => {
    await createParty({ client, certsDir }, "alice", "p0");
    const rsa = await createParty({ client, certsDir }, "alice", "p1", "rsa");
    expect(rsa.item).toMatchObject({ user: "alice", name: "p1", status: "active" });

    for (const party of ["p0", "p1"]) {
      const paths = partyPaths(certsDir, "alice", party);
      expect(await mode(paths.relayKey)).toBe(0o600);
      expect(await mode(paths.partyKey)).toBe(0o600);
      const relayCert = new X509Certificate(await readFile(paths.relayCert, "utf8"));
      const relayCa = new X509Certificate(await readFile(relayCaPath(certsDir), "utf8"));
      expect(relayCert.subjectAltName).toBe(`URI:urn:flock:party:alice:${party}`);
      expect(relayCert.verify(relayCa.publicKey)).toBe(true);
      expect(relayCert.checkPrivateKey(createPrivateKey(await readFile(paths.relayKey, "utf8")))).toBe(true);
      const partyCert = new X509Certificate(await readFile(paths.partyCert, "utf8"));
      const userCa = new X509Certificate(await readFile(userPaths(certsDir, "alice").caCert, "utf8"));
      expect(partyCert.verify(userCa.publicKey)).toBe(true);
      expect(partyCert.checkPrivateKey(createPrivateKey(await readFile(paths.partyKey, "utf8")))).toBe(true);
    }
    expect(await readFile(relayCaPath(certsDir), "utf8")).toBe(`${(await client.relayCa()).trimEnd()}\n`);
    const listed = await client.listParties("alice");
    const p0Cert = await readFile(partyPaths(certsDir, "alice", "p0").relayCert, "utf8");
    expect(listed.find((p) => p.name === "p0")?.fingerprint).toBe(await thumbprintOf(p0Cert));
  });

  it("create relay writes certs/_relays/<name>/ with a 0600 key and host SANs", async () => {
    const created = await createRelay(
      { client, certsDir },
      { name: "local", hosts: ["127.0.0.1"], port: 6000 },
    );
    expect(created.item).toMatchObject({ name: "local", hosts: ["127.0.0.1"], port: 6000 });
    const paths = relayPaths(certsDir, "local");
    expect(await mode(paths.key)).toBe(0o600);
    const cert = new X509Certificate(await readFile(paths.cert, "utf8"));
    expect(cert.subjectAltName).toContain("URI:urn:flock:relay:local");
    expect(cert.subjectAltName).toContain("IP Address:127.0.0.1");
  });

  it("never sends a private key or the user CA: only names and CSRs reach the worker", async () => {
    const keyFiles = [
      userPaths(certsDir, "alice").caKey,
      ...["p0", "p1"].flatMap((p) => [
        partyPaths(certsDir, "alice", p).relayKey,
        partyPaths(certsDir, "alice", p).partyKey,
      ]),
      relayPaths(certsDir, "local").key,
    ];
    const userCaBody = (await readFile(userPaths(certsDir, "alice").caCert, "utf8")).split("\n")[1] as string;
    // The secret part of each key (EC scalar or RSA private exponent) in every encoding it could travel in.
    const secretForms = (
      await Promise.all(
        keyFiles.map(async (f) => {
          const d = createPrivateKey(await readFile(f, "utf8")).export({ format: "jwk" }).d as string;
          const bytes = Buffer.from(d, "base64url");
          return [d, bytes.toString("base64").replace(/=+$/, ""), bytes.toString("hex")];
        }),
      )
    ).flat();
    expect(secretForms).toHaveLength(keyFiles.length * 3);
    const posts = sent.filter((r) => r.method === "POST");
    expect(posts.map((r) => r.path)).toEqual([
      "/v1/users",
      "/v1/users/alice/parties",
      "/v1/users/alice/parties",
      "/v1/relays",
    ]);
    for (const request of sent) {
      const flat = request.body.replace(/\\n/g, "");
      expect(flat).not.toContain("PRIVATE KEY");
      expect(flat).not.toContain(userCaBody);
      for (const secret of secretForms) expect(flat).not.toContain(secret.slice(0, 24));
    }
    expect(JSON.parse(posts[0]?.body ?? "")).toEqual({ name: "alice" });
    const partyBody = JSON.parse(posts[1]?.body ?? "");
    expect(Object.keys(partyBody).sort()).toEqual(["csr", "name"]);
    expect(partyBody.csr).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
  });

  it("a duplicate user is refused with the server's message and nothing is written", async () => {
    const error = await createUser({ client, certsDir: certsRoot(otherCwd) }, "alice").catch((e) => e);
    expect(error).toBeInstanceOf(FlockError);
    expect(error.code).toBe("USER_EXISTS");
    expect(error.status).toBe(409);
    await expect(stat(userPaths(certsRoot(otherCwd), "alice").caKey)).rejects.toThrow("ENOENT");
  });

  it("a refused party (--force over an existing one) leaves the local keys as they were", async () => {
    const paths = partyPaths(certsDir, "alice", "p0");
    const before = await readFile(paths.relayKey, "utf8");
    const error = await createParty({ client, certsDir, force: true }, "alice", "p0").catch((e) => e);
    expect(error).toBeInstanceOf(FlockError);
    expect(error.code).toBe("PARTY_EXISTS");
    expect(await readFile(paths.relayKey, "utf8")).toBe(before);
  });

  it("refuses to overwrite local keys without --force, before asking the worker", async () => {
    const count = sent.length;
    await expect(createParty({ client, certsDir }, "alice", "p0")).rejects.toThrow(
      "already exists; pass --force",
    );
    expect(sent.length).toBe(count);
  });

  it("a party needs the user CA on this machine", async () => {
    await expect(createParty({ client, certsDir: certsRoot(otherCwd) }, "alice", "p9")).rejects.toThrow(
      "create the user here with `flock create user --name alice`",
    );
  });

  it("lists follow cursors across pages", async () => {
    await createUser({ client, certsDir }, "bob");
    await createUser({ client, certsDir }, "carol");
    const paged = new ApiClient({ url: worker.url, token: worker.adminToken, pageSize: 1 });
    expect((await paged.listUsers()).map((u) => u.name).sort()).toEqual(["alice", "bob", "carol"]);
    expect(await paged.listUsers({ limit: 2 })).toHaveLength(2);
    expect((await paged.listParties(undefined)).map((p) => p.name).sort()).toEqual(["p0", "p1"]);
    expect((await paged.listRelays()).map((r) => r.name)).toEqual(["local"]);
  });

  it("ticket: 503 NO_RELAY_AVAILABLE until a relay reports, then a ticket bound to the party's relay key", async () => {
    const request = { certsDir, user: "alice", party: "p0", dest: "p1" };
    const refused = await fetchTicket(worker.url, request).catch((e) => e);
    expect(refused).toBeInstanceOf(FlockError);
    expect(refused.code).toBe("NO_RELAY_AVAILABLE");
    expect(refused.status).toBe(503);

    await reportLoad(worker.url, certsDir);
    const p0 = await fetchTicket(worker.url, request);
    const p1 = await fetchTicket(worker.url, { ...request, party: "p1", dest: "p0" }); // RSA key: RS256
    const p0Cert = await readFile(partyPaths(certsDir, "alice", "p0").relayCert, "utf8");
    expect(p0.claims).toMatchObject({ iss: "flock", aud: "local", sub: "alice/p0", peer: "alice/p1" });
    expect(p0.claims.cnf).toEqual({ "x5t#S256": await thumbprintOf(p0Cert) });
    expect(p0.response.relay).toEqual({ name: "local", hosts: ["127.0.0.1"], port: 6000 });
    expect(p1.response.pair).toBe(p0.response.pair);
    expect([p0.response.role, p1.response.role].sort()).toEqual(["client", "server"]);
  });

  it("list tickets reads back the audit of the tickets just fetched, across pages", async () => {
    const paged = new ApiClient({ url: worker.url, token: worker.adminToken, pageSize: 1 });
    const all = await paged.listTickets("alice", undefined);
    // Both came in the same second or one apart, so only the set is certain here; the worker
    // tests pin the order.
    expect(all.map((t) => `${t.party}->${t.dest}@${t.relay}`).sort()).toEqual([
      "p0->p1@local",
      "p1->p0@local",
    ]);
    expect((all[0]?.issuedAt ?? "") >= (all[1]?.issuedAt ?? "")).toBe(true);
    expect(all[0]?.pair).toBe(all[1]?.pair);
    const ofP0 = await paged.listTickets("alice", "p0");
    expect(ofP0.map((t) => t.jti)).toEqual(all.filter((t) => t.party === "p0").map((t) => t.jti));
    expect(await paged.listTickets("alice", undefined, { limit: 1 })).toEqual([all[0]]);
  });

  it("revoke party marks it revoked, its peers get no tickets to it, and publishes a list signed by the user CA", async () => {
    const { party, published } = await revokeParty(client, "alice", "p1", certsDir);
    expect(party).toMatchObject({ user: "alice", name: "p1", status: "revoked" });
    expect(published).toEqual({
      list: { user: "alice", seq: 1, iat: expect.any(Number), parties: ["p1"] },
      replacedForeignList: false,
    });
    const caCert = new X509Certificate(await readFile(userPaths(certsDir, "alice").caCert, "utf8"));
    const stored = (await client.revocationList("alice")) as string;
    expect(await verifyRevocationList(stored, caCert.publicKey, "alice")).toEqual(published.list);
    const error = await fetchTicket(worker.url, { certsDir, user: "alice", party: "p0", dest: "p1" }).catch(
      (e) => e,
    );
    expect(error.code).toBe("DEST_REVOKED");
  });

  it("revoke party without the user CA here revokes at the worker and says the list is not published", async () => {
    await createParty({ client, certsDir }, "alice", "p3");
    const error = await revokeParty(client, "alice", "p3", certsRoot(otherCwd)).catch((e) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      `Party alice/p3 is revoked at the worker, but its revocation list is not published: ${relative(process.cwd(), userPaths(certsRoot(otherCwd), "alice").caCert)} not found; the revocation list is signed with the user CA, so run \`flock publish revocations --user alice\` where certs/alice/ lives.`,
    );
    expect((await client.listParties("alice")).find((p) => p.name === "p3")?.status).toBe("revoked");
    const caughtUp = await publishRevocations(client, "alice", certsDir);
    expect(caughtUp.list).toMatchObject({ seq: 2, parties: ["p1", "p3"] });
  });

  it("publish revocations replaces a list the user CA did not sign, keeping the registry's revoked parties and a higher seq", async () => {
    const rogue = await generateKey("ec");
    const foreign = await signRevocationList(rogue.keys.privateKey, "ES256", {
      user: "alice",
      seq: 7,
      iat: 1,
      parties: ["p0"],
    });
    await client.publishRevocationList("alice", foreign);
    const published = await publishRevocations(client, "alice", certsDir);
    expect(published).toMatchObject({ replacedForeignList: true, list: { seq: 8, parties: ["p1", "p3"] } });
  });

  it("revoke relay marks it revoked: its reports are refused and tickets find no relay", async () => {
    const revoked = await revokeRelay(client, "local");
    expect(revoked).toMatchObject({ name: "local", status: "revoked", live: false });
    expect(sent.at(-1)).toMatchObject({ method: "POST", path: "/v1/relays/local/revoke", body: "" });
    expect(await client.listRelays()).toEqual([revoked]);
    const report = await reportLoad(worker.url, certsDir).catch((e) => e);
    expect(report).toBeInstanceOf(FlockError);
    expect(report.code).toBe("RELAY_REVOKED");
    expect(report.status).toBe(403);
    // The only relay is revoked, so an active pair gets none.
    await createParty({ client, certsDir }, "alice", "p2");
    const ticket = await fetchTicket(worker.url, { certsDir, user: "alice", party: "p0", dest: "p2" }).catch(
      (e) => e,
    );
    expect(ticket.code).toBe("NO_RELAY_AVAILABLE");
    const unknown = await revokeRelay(client, "no-such-relay").catch((e) => e);
    expect(unknown.code).toBe("RELAY_NOT_FOUND");
  });

  it("delete user removes the user and its parties", async () => {
    expect((await deleteUser(client, "alice")).name).toBe("alice");
    expect((await client.listUsers()).map((u) => u.name).sort()).toEqual(["bob", "carol"]);
    expect(await client.listParties(undefined)).toEqual([]);
    const again = await deleteUser(client, "alice").catch((e) => e);
    expect(again.code).toBe("USER_NOT_FOUND");
  });

  it("login checks the token before saving it with mode 0600", async () => {
    const bad = await login(worker.url, "not-the-token", otherCwd).catch((e) => e);
    expect(bad).toBeInstanceOf(FlockError);
    expect(bad.code).toBe("UNAUTHENTICATED");
    expect(bad.message).toContain("refused the admin token");
    expect(await readConfigFile(otherCwd)).toBeUndefined();

    const { path } = await login(`${worker.url}/`, worker.adminToken, otherCwd);
    expect(await mode(path)).toBe(0o600);
    expect(await readConfigFile(otherCwd)).toEqual({ url: worker.url, token: worker.adminToken });
  });
});

/** What a data plane does every few seconds; here once, so the worker has a live relay to hand out. */
async function reportLoad(url: string, certsDir: string): Promise<RelayReportResponse> {
  const paths = relayPaths(certsDir, "local");
  const certPem = await readFile(paths.cert, "utf8");
  const key = createPrivateKey(await readFile(paths.key, "utf8"));
  expect(createPublicKey(key).asymmetricKeyType).toBe("ec");
  const load: RelayLoad = { activePairs: 0, waitingSides: 0, bytesPerSecond: 0, capacity: 100 };
  const jws = await signRequest(key, "ES256", await thumbprintOf(certPem), "POST", "/v1/relays/report", load);
  return new ApiClient({ url }).request("POST", "/v1/relays/report", jws, {
    contentType: SIGNED_REQUEST_CONTENT_TYPE,
  });
}
