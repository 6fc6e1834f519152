import { type ChildProcess, spawn } from "node:child_process";
import { access, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/free-port.ts";
import { startTestWorker, type TestWorker } from "../helpers/local-worker.ts";
import { FLOCK_BIN, runFlock } from "../helpers/run-flock.ts";

const flock = runFlock;

/** Each spawn is a Node process loading the compiled CLI: up to seconds on a loaded 2-core machine. */
const SPAWN_TEST_TIMEOUT_MS = 120_000;

describe("flock binary", { timeout: SPAWN_TEST_TIMEOUT_MS }, () => {
  let worker: TestWorker;
  let cwd: string;
  let otherCwd: string;
  let admin: Record<string, string>;

  beforeAll(async () => {
    worker = await startTestWorker();
    cwd = await mkdtemp(join(tmpdir(), "flock-bin-"));
    otherCwd = await mkdtemp(join(tmpdir(), "flock-bin-other-"));
    admin = { FLOCK_URL: worker.url, FLOCK_TOKEN: worker.adminToken };
  });
  afterAll(async () => {
    await worker?.cleanup();
    for (const dir of [cwd, otherCwd]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("--help exits 0 everywhere and lists the commands", async () => {
    const root = await flock(["--help"], cwd);
    expect(root.code).toBe(0);
    for (const command of ["dev", "login", "create", "list", "revoke", "delete", "ticket"]) {
      expect(root.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    }
    const sub = await flock(["create", "party", "--help"], cwd);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain("--key-type <type>");
  });

  it("--version prints the package version, on the fast path and after other options", async () => {
    const { version } = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8"));
    for (const args of [["--version"], ["-V"], ["--debug", "--version"]]) {
      expect(await flock(args, cwd)).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
    }
  });

  it("exits 2 on an unknown command, a missing option and a bad number", async () => {
    const unknown = await flock(["frobnicate"], cwd);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const missing = await flock(["create", "user"], cwd, admin);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--name <user>' not specified");
    const badPort = await flock(["dev", "--port", "http"], cwd);
    expect(badPort.code).toBe(2);
    const badKeyType = await flock(
      ["create", "party", "--user", "a", "--name", "b", "--key-type", "dsa"],
      cwd,
      admin,
    );
    expect(badKeyType.code).toBe(2);
    expect(badKeyType.stderr).toContain("argument 'dsa' is invalid. expected one of ec, rsa.");
  });

  it("exits 1 with one line telling what to run when nothing is configured", async () => {
    const run = await flock(["list", "users"], cwd);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "error: No Flock worker configured: run `flock dev` (local) or `flock login --url URL --token TOKEN`, or set FLOCK_URL and FLOCK_TOKEN.\n",
    );
  });

  it("creates a user (key 0600) and lists it as JSON", async () => {
    const created = await flock(["create", "user", "--name", "dave"], cwd, admin);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    expect(created.stdout).toBe(
      "Created user dave.\n  wrote certs/dave/user-ca-key.pem\n  wrote certs/dave/user-ca.pem\n",
    );
    expect((await stat(join(cwd, "certs", "dave", "user-ca-key.pem"))).mode & 0o777).toBe(0o600);
    const listed = await flock(["list", "users", "--json"], cwd, admin);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([{ name: "dave", createdAt: expect.any(String) }]);
  });

  it("list tickets needs --user and prints the (empty) audit as JSON", async () => {
    const missing = await flock(["list", "tickets"], cwd, admin);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--user <user>' not specified");
    const listed = await flock(["list", "tickets", "--user", "dave", "--json"], cwd, admin);
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });

  it("revoke party prints the revocation and the published list; publish revocations prints it again, one version up", async () => {
    expect((await flock(["create", "party", "--user", "dave", "--name", "p0"], cwd, admin)).code).toBe(0);
    const revoked = await flock(["revoke", "party", "--user", "dave", "--name", "p0"], cwd, admin);
    expect(revoked).toMatchObject({ code: 0, stderr: "" });
    expect(revoked.stdout).toMatch(
      /^Revoked party dave\/p0 at [0-9T:.-]+Z\.\nPublished the revocation list of dave, version 1: p0\.\n$/,
    );
    const again = await flock(["publish", "revocations", "--user", "dave", "--json"], cwd, admin);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({
      user: "dave",
      seq: 2,
      iat: expect.any(Number),
      parties: ["p0"],
    });
  });

  it("a duplicate name exits 1 with the server's message and code on one line", async () => {
    const run = await flock(["create", "user", "--name", "dave"], otherCwd, admin);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: [^\n]+ \(USER_EXISTS\)\n$/);
    await expect(access(join(otherCwd, "certs"))).rejects.toThrow("ENOENT");
  });

  it("a bad token exits 1 with a clear line", async () => {
    const run = await flock(["list", "users"], cwd, { ...admin, FLOCK_TOKEN: "wrong" });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: The worker at ${worker.url} refused the admin token; check FLOCK_TOKEN or run \`flock login\` again. (UNAUTHENTICATED)\n`,
    );
  });

  it("an unreachable worker exits 1 naming the URL", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const run = await flock(["list", "relays"], cwd, { ...admin, FLOCK_URL: url });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `error: Cannot reach the Flock worker at ${url} (ECONNREFUSED); is \`flock dev\` running?\n`,
    );
  });
});

describe("flock dev", { timeout: SPAWN_TEST_TIMEOUT_MS }, () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  async function workerdChildrenOf(pid: number): Promise<number[]> {
    const found: number[] = [];
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const text = await readFile(`/proc/${entry}/stat`, "utf8");
        const ppid = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
        if (ppid === pid && (await readFile(`/proc/${entry}/cmdline`, "utf8")).includes("workerd")) {
          found.push(Number(entry));
        }
      } catch {
        // gone meanwhile
      }
    }
    return found;
  }

  const alive = (pid: number) =>
    access(`/proc/${pid}`).then(
      () => true,
      () => false,
    );

  it.each([
    { signal: "SIGINT", logFile: false },
    { signal: "SIGTERM", logFile: true },
  ] as const)("starts the worker and a data plane, saves .flock/config.json 0600, prints next steps, keeps JSON log lines off a non-terminal's banner (log file: $logFile), stops cleanly on $signal", async ({
    signal,
    logFile,
  }) => {
    const cwd = await mkdtemp(join(tmpdir(), "flock-dev-"));
    dirs.push(cwd);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLOCK_")));
    const relayPort = await freePort();
    const logPath = join(cwd, "dev.log");
    const child = spawn(
      process.execPath,
      [
        FLOCK_BIN,
        "dev",
        "--port",
        "0",
        "--relay-port",
        String(relayPort),
        ...(logFile ? ["--log-file", logPath] : []),
      ],
      {
        cwd,
        env: { ...env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.push(child);
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (d) => {
        stdout += d;
        const match = /Flock worker running at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match && stdout.includes("Press Ctrl-C to stop.")) resolve(match[1] as string);
      });
      child.on("exit", () => reject(new Error(`flock dev exited early: ${stderr}`)));
    });
    expect(stdout).toContain(`Data plane "local" listening on 127.0.0.1:${relayPort} (tcp, tls, ws)`);
    expect(stdout).toContain("npx flock create user --name alice");
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true });
    const configFile = join(cwd, ".flock", "config.json");
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    const config = JSON.parse(await readFile(configFile, "utf8"));
    const secrets = JSON.parse(await readFile(join(cwd, ".flock", "secrets.json"), "utf8"));
    expect(config).toEqual({ url, token: secrets.ADMIN_TOKEN });

    const workerd = await workerdChildrenOf(child.pid as number);
    expect(workerd).toHaveLength(1);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill(signal);
    expect(await exited).toBe(0);
    expect(stderr).toContain(`${signal}: stopping…\n`);
    expect(stderr.endsWith("stopped.\n")).toBe(true);
    expect(await alive(workerd[0] as number)).toBe(false);
    // stdout is not a terminal here, so log lines stay JSON: on stderr, or in the log file.
    const jsonLines = (text: string) => text.split("\n").filter((line) => line.startsWith("{"));
    const logged = logFile ? jsonLines(await readFile(logPath, "utf8")) : jsonLines(stderr);
    expect(logged.map((line) => JSON.parse(line).msg)).toEqual(
      expect.arrayContaining(["data plane listening", "data plane stopped"]),
    );
    if (logFile) expect(jsonLines(stderr)).toEqual([]);
    expect(jsonLines(stdout)).toEqual([]);
  });
});
