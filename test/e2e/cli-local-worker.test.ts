import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../../cli/api-client.ts";
import { MIGRATIONS_TABLE, migrationNames } from "../../cli/local/d1-migrations.ts";
import { type LocalWorker, SECRET_NAMES, startLocalWorker } from "../../cli/local/local-worker.ts";
import { MIGRATIONS_DIR, readWranglerSettings } from "../../cli/local/worker-bundle.ts";
import { UserError } from "../../cli/output.ts";

/** Child processes of this process whose command is workerd (from /proc, so no extra tool is needed). */
async function workerdChildren(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const statText = await readFile(`/proc/${entry}/stat`, "utf8");
      // Field 4 (after "pid (comm) state") is the parent pid; comm may hold spaces, so split after ')'.
      const ppid = Number(statText.slice(statText.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = await readFile(`/proc/${entry}/cmdline`, "utf8");
      if (ppid === process.pid && cmd.includes("workerd")) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

describe("startLocalWorker", () => {
  const dirs: string[] = [];
  const running: LocalWorker[] = [];
  const servers: Server[] = [];

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "flock-lw-"));
    dirs.push(dir);
    return dir;
  }

  async function start(stateDir: string, port = 0): Promise<LocalWorker> {
    const worker = await startLocalWorker({ stateDir, port, quiet: true });
    running.push(worker);
    return worker;
  }

  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.stop()));
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it("answers /healthz on the real port it picked for port 0", async () => {
    const worker = await start(await tempDir());
    const url = new URL(worker.url);
    expect(url.hostname).toBe("127.0.0.1");
    expect(Number(url.port)).toBeGreaterThan(0);
    const response = await fetch(`${worker.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });

  it("writes secrets.json once with mode 0600 and exactly the contract's keys, and reuses it", async () => {
    const stateDir = await tempDir();
    const first = await start(stateDir);
    expect(first.createdSecrets).toBe(true);
    const path = join(stateDir, "secrets.json");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const onDisk = JSON.parse(await readFile(path, "utf8"));
    expect(Object.keys(onDisk).sort()).toEqual([...SECRET_NAMES].sort());
    expect(first.adminToken).toBe(onDisk.ADMIN_TOKEN);
    await first.stop();

    const second = await start(stateDir);
    expect(second.createdSecrets).toBe(false);
    expect(second.secrets).toEqual(onDisk);
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual(onDisk);
  });

  it("keeps D1 state across a restart and applies each migration once", async () => {
    const stateDir = await tempDir();
    const first = await start(stateDir);
    expect(first.migrationsApplied).toEqual(await migrationNames(MIGRATIONS_DIR));
    await new ApiClient({ url: first.url, token: first.adminToken }).createUser("survivor");
    await first.stop();

    const second = await start(stateDir);
    expect(second.migrationsApplied).toEqual([]);
    const users = await new ApiClient({ url: second.url, token: second.adminToken }).listUsers();
    expect(users.map((u) => u.name)).toEqual(["survivor"]);
  });

  it("records migrations in wrangler's d1_migrations table where `wrangler d1 --local --persist-to` looks", async () => {
    const stateDir = await tempDir();
    await (await start(stateDir)).stop();
    // Open the same database the way wrangler's local D1 commands do: v3/d1 under the persist dir, keyed by id.
    const settings = await readWranglerSettings();
    const mf = new Miniflare({
      modules: true,
      script: "export default { fetch() { return new Response(null) } }",
      d1Databases: { DB: settings.d1DatabaseId },
      d1Persist: join(stateDir, "v3", "d1"),
      cf: false,
    });
    try {
      const db = await mf.getD1Database("DB");
      const rows = await db
        .prepare(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`)
        .all<{ name: string }>();
      expect(rows.results.map((r) => r.name)).toEqual(await migrationNames(MIGRATIONS_DIR));
    } finally {
      await mf.dispose();
    }
  });

  it("leaves no workerd process behind after stop()", async () => {
    const worker = await start(await tempDir());
    expect((await workerdChildren()).length).toBeGreaterThan(0);
    await worker.stop();
    expect(await workerdChildren()).toEqual([]);
    await worker.stop(); // idempotent
  });

  it("refuses a busy port with a clear user error", async () => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const attempt = startLocalWorker({ stateDir: await tempDir(), port, quiet: true });
    await expect(attempt).rejects.toThrow(UserError);
    await expect(attempt).rejects.toThrow(`Port ${port} on 127.0.0.1 is in use`);
  });

  it("refuses a secrets.json that lacks a secret instead of running with it", async () => {
    const stateDir = await tempDir();
    await writeFile(join(stateDir, "secrets.json"), JSON.stringify({ ADMIN_TOKEN: "x" }), { mode: 0o600 });
    await expect(startLocalWorker({ stateDir, port: 0, quiet: true })).rejects.toThrow(
      "lacks RELAY_CA_CERT, RELAY_CA_KEY, TICKET_KEYS, BACKEND_SECRET_KEY",
    );
  });
});
