import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadIdentity } from "../../client/identity.ts";
import { sha256 } from "../helpers/stream-digest.ts";
import type { FlockSystem } from "../helpers/system.ts";
import { startSystem } from "../helpers/system.ts";

const FLOCK_BIN = join(dirname(fileURLToPath(import.meta.url)), "../../bin/flock.js");
const FILE_BYTES = 8 * 1024 * 1024;

let system: FlockSystem;
/** `flock` runs with certs/ under this directory, as an admin's shell would. */
let workDir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  system = await startSystem();
  workDir = dirname(system.certsDir);
  await system.createUser("acme");
  await system.party("acme", "alice");
  await system.party("acme", "bob");
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});
afterAll(async () => {
  await system?.stop();
});

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `flock args...`; `stdin` is a file descriptor, or nothing (then stdin is empty). */
function flock(args: string[], env: Record<string, string> = {}, stdin?: number): Promise<Run> {
  const child = spawn(process.execPath, [FLOCK_BIN, ...args], {
    cwd: workDir,
    env: { ...process.env, FLOCK_URL: system.url, ...env },
    stdio: [stdin ?? "ignore", "pipe", "pipe"],
  });
  children.push(child);
  const stdout: Buffer[] = [];
  let stderr = "";
  child.stdout?.on("data", (c: Buffer) => stdout.push(c));
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
  });
}

/** `flock env` output (KEY='value' lines) turned back into an environment. */
function parseEnvOutput(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^([A-Z_]+)='([^']*)'$/gms)) env[m[1] as string] = m[2] as string;
  return env;
}

describe("flock relay start", () => {
  it("exits 1 with one line once the worker says the relay was revoked", async () => {
    await system.registerRelay("gone");
    await system.admin.revokeRelay("gone");
    const run = await flock([
      "relay",
      "start",
      "--name",
      "gone",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--no-metrics",
      "--log-level",
      "error",
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "error: The worker has revoked relay gone, so it stopped; register a new one with `flock create relay` to serve again. (RELAY_REVOKED)\n",
    );
  });
});

describe("flock env", () => {
  it("prints variables a function can load, one per file or as one bundle", async () => {
    const plain = await flock(["env", "--user", "acme", "--party", "alice", "--dest", "bob"]);
    expect(plain.code).toBe(0);
    const env = parseEnvOutput(plain.stdout.toString());
    expect(Object.keys(env).sort()).toEqual(
      [
        "DEST",
        "FLOCK_URL",
        "PARTY_CERT",
        "PARTY_KEY",
        "RELAY_CA",
        "RELAY_CERT",
        "RELAY_KEY",
        "USER_CA",
      ].sort(),
    );
    expect(loadIdentity(env)).toMatchObject({ user: "acme", party: "alice", dest: "bob", url: system.url });

    const bundled = await flock(["env", "--user", "acme", "--party", "bob", "--bundle"]);
    const bundle = parseEnvOutput(bundled.stdout.toString());
    expect(Object.keys(bundle)).toEqual(["FLOCK_PARTY"]);
    expect(loadIdentity(bundle)).toMatchObject({ user: "acme", party: "bob" });
  });

  it("fails with one line and exit 1 for a party that was never created", async () => {
    const run = await flock(["env", "--user", "acme", "--party", "ghost"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: .*certs\/acme\/ghost\/.* not found/);
  });
});

describe("flock connect", () => {
  it("moves a file byte-exact between two processes, one reading stdin, one writing stdout", async () => {
    const path = join(workDir, "payload.bin");
    const payload = randomBytes(FILE_BYTES);
    await writeFile(path, payload);
    const aliceEnv = parseEnvOutput(
      (await flock(["env", "--user", "acme", "--party", "alice"])).stdout.toString(),
    );
    const input = await open(path, "r");
    try {
      const [sender, receiver] = await Promise.all([
        flock(["connect", "--dest", "bob", "--transport", "tcp"], aliceEnv, input.fd),
        flock(["connect", "--dest", "alice", "--user", "acme", "--party", "bob", "--transport", "ws"]),
      ]);
      expect(sender.code).toBe(0);
      expect(receiver.code).toBe(0);
      expect(receiver.stdout.length).toBe(FILE_BYTES);
      expect(sha256(receiver.stdout)).toBe(sha256(payload));
      expect(sender.stdout.length).toBe(0);
      expect(receiver.stderr).toContain("connected to acme/alice");
    } finally {
      await input.close();
    }
  });

  it("exits 1 with the error code when the destination does not exist", async () => {
    const run = await flock(["connect", "--dest", "nobody", "--user", "acme", "--party", "alice"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("(UNKNOWN_DEST)");
  });
});

describe("flock ping", () => {
  it("measures on one side and echoes on the other when both run the same command", async () => {
    const ping = (party: string, dest: string) =>
      flock([
        "ping",
        "--dest",
        dest,
        "--user",
        "acme",
        "--party",
        party,
        "--count",
        "5",
        "--bytes",
        "1M",
        "--json",
      ]);
    const runs = await Promise.all([ping("alice", "bob"), ping("bob", "alice")]);
    for (const run of runs) expect(run.code).toBe(0);
    const results = runs.map((r) => JSON.parse(r.stdout.toString()) as Record<string, unknown>);
    const measured = results.find((r) => "mbPerSecond" in r);
    const echoed = results.find((r) => r.role === "echo");
    expect(measured).toMatchObject({ count: 5, bytes: 1024 * 1024, transport: "tcp" });
    expect(measured?.p50Ms).toBeGreaterThan(0);
    expect(measured?.mbPerSecond).toBeGreaterThan(0);
    // Every probe byte and every streamed byte came back through the echo.
    expect(echoed).toMatchObject({ bytes: 1024 * 1024 + 5 * 64 });
  });

  it("lets the side with --listen answer even when it is the end-to-end TLS client", async () => {
    const runs = await Promise.all([
      flock(["ping", "--dest", "bob", "--user", "acme", "--party", "alice", "--listen", "--json"]),
      flock([
        "ping",
        "--dest",
        "alice",
        "--user",
        "acme",
        "--party",
        "bob",
        "--count",
        "3",
        "--bytes",
        "64K",
        "--json",
      ]),
    ]);
    const [alice, bob] = runs.map((r) => JSON.parse(r.stdout.toString()) as Record<string, unknown>);
    expect(alice).toMatchObject({ role: "echo", peer: "acme/bob" });
    expect(bob).toMatchObject({ peer: "acme/alice", count: 3, bytes: 64 * 1024 });
  });
});
