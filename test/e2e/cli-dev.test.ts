import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../../cli/api-client.ts";
import { generateKey } from "../../cli/certs/keys.ts";
import { certsRoot, relayPaths } from "../../cli/certs/layout.ts";
import { createUserCa } from "../../cli/certs/user-ca.ts";
import { createParty, createUser } from "../../cli/commands/create.ts";
import { type DevEnvironment, startDev } from "../../cli/commands/dev.ts";
import { fetchTicket } from "../../cli/commands/ticket.ts";
import { readConfigFile, writeConfig } from "../../cli/config.ts";
import { UserError } from "../../cli/output.ts";
import { freePort } from "../helpers/free-port.ts";

/** Each test starts workerd (and rebuilds the bundle when worker/ changed): slow on a loaded machine. */
describe("startDev", { timeout: 120_000 }, () => {
  const running: DevEnvironment[] = [];
  const dirs: string[] = [];
  const servers: Server[] = [];

  afterEach(async () => {
    for (const env of running.splice(0)) await env.stop();
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function dev(cwd: string, options: { relay?: boolean; relayPort?: number } = {}) {
    const env = await startDev({
      cwd,
      port: 0,
      quiet: true,
      relayPort: options.relayPort,
      relay: options.relay,
    });
    running.push(env);
    return env;
  }

  async function tempDir() {
    const dir = await mkdtemp(join(tmpdir(), "flock-dev-"));
    dirs.push(dir);
    return dir;
  }

  it("runs the worker and a live relay named local, so a party gets a ticket at once", async () => {
    const cwd = await tempDir();
    const relayPort = await freePort();
    const env = await dev(cwd, { relayPort });
    expect(env.relay?.port).toBe(relayPort);
    expect(await readConfigFile(cwd)).toEqual({ url: env.worker.url, token: env.worker.adminToken });
    expect(env.replacedUrl).toBeUndefined();

    const client = new ApiClient({ url: env.worker.url, token: env.worker.adminToken });
    const relays = await client.listRelays();
    expect(relays).toMatchObject([{ name: "local", hosts: ["127.0.0.1"], port: relayPort, live: true }]);

    const certsDir = certsRoot(cwd);
    await createUser({ client, certsDir }, "alice");
    await createParty({ client, certsDir }, "alice", "p0");
    await createParty({ client, certsDir }, "alice", "p1");
    const ticket = await fetchTicket(env.worker.url, { certsDir, user: "alice", party: "p0", dest: "p1" });
    expect(ticket.response.relay).toEqual({ name: "local", hosts: ["127.0.0.1"], port: relayPort });
  });

  it("reuses the registered relay identity after a restart", async () => {
    const cwd = await tempDir();
    const relayPort = await freePort();
    const first = await dev(cwd, { relayPort });
    const fingerprint = (
      await new ApiClient({ url: first.worker.url, token: first.worker.adminToken }).listRelays()
    )[0]?.fingerprint;
    await first.stop();
    running.pop();

    const second = await dev(cwd, { relayPort });
    const relays = await new ApiClient({
      url: second.worker.url,
      token: second.worker.adminToken,
    }).listRelays();
    expect(relays.map((r) => [r.name, r.fingerprint, r.live])).toEqual([["local", fingerprint, true]]);
  });

  it("refuses relay files that belong to another worker state instead of replacing a registered identity", async () => {
    const cwd = await tempDir();
    const relayPort = await freePort();
    await (await dev(cwd, { relayPort })).stop();
    running.pop();
    // Another certificate where the registered one was, as after mixing two checkouts' certs/.
    await writeFile(
      relayPaths(certsRoot(cwd), "local").cert,
      await createUserCa(await generateKey("ec"), "x"),
    );
    const attempt = startDev({ cwd, port: 0, quiet: true, relayPort });
    await expect(attempt).rejects.toThrow(UserError);
    await expect(attempt).rejects.toThrow("is not the certificate registered for relay local");
  });

  it("says which flag to use when the relay port is taken", async () => {
    const cwd = await tempDir();
    const busy = createServer();
    servers.push(busy);
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const relayPort = (busy.address() as AddressInfo).port;
    await expect(startDev({ cwd, port: 0, quiet: true, relayPort })).rejects.toThrow(
      `Port ${relayPort} on 127.0.0.1 is in use; stop what runs there or pass --relay-port or --no-relay.`,
    );
  });

  it("runs no data plane with relay: false, and reports a replaced remote config", async () => {
    const cwd = await tempDir();
    await writeConfig({ url: "https://flock.example.workers.dev", token: "remote" }, cwd);
    const env = await dev(cwd, { relay: false });
    expect(env.replacedUrl).toBe("https://flock.example.workers.dev");
    expect(await readConfigFile(cwd)).toEqual({ url: env.worker.url, token: env.worker.adminToken });
    expect(env.relay).toBeUndefined();
    expect(await new ApiClient({ url: env.worker.url, token: env.worker.adminToken }).listRelays()).toEqual(
      [],
    );
  });
});
