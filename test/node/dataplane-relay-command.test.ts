import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RelayStartOptions } from "../../cli/commands/relay.ts";
import { relayConfig } from "../../cli/commands/relay.ts";
import { validateConfig } from "../../dataplane/config.ts";
import { FlockError } from "../../protocol/errors.ts";
import { closeAllParties, TestParty } from "../helpers/dataplane-client.ts";
import type { DataPlaneFixtures } from "../helpers/dataplane-fixtures.ts";
import { makeDataPlaneFixtures, RELAY_NAME } from "../helpers/dataplane-fixtures.ts";

let fx: DataPlaneFixtures;
let dir: string;
beforeAll(async () => {
  fx = await makeDataPlaneFixtures();
  dir = await mkdtemp(join(tmpdir(), "flock-relay-"));
  await mkdir(join(dir, "certs", "_relays", RELAY_NAME), { recursive: true });
  await writeFile(join(dir, "certs", "_relays", RELAY_NAME, "cert.pem"), fx.relay.certPem);
  await writeFile(join(dir, "certs", "_relays", RELAY_NAME, "key.pem"), fx.relay.keyPem, { mode: 0o600 });
  await writeFile(join(dir, "certs", "flockrelay-ca.pem"), fx.relayCa.certPem);
});
afterAll(async () => {
  closeAllParties();
  await fx.worker.stop();
  await rm(dir, { recursive: true, force: true });
});

const options = (more: Partial<RelayStartOptions> = {}): RelayStartOptions => ({
  name: RELAY_NAME,
  port: 0,
  host: "127.0.0.1",
  metrics: true,
  metricsPort: 0,
  metricsHost: "127.0.0.1",
  pairingTimeoutMs: 1234,
  idleTimeoutMs: 5678,
  helloDeadlineMs: 910,
  magicDeadlineMs: 345,
  maxHandshakingPerPrefix: 7,
  handshakePrefixV4: 20,
  handshakePrefixV6: 48,
  maxPairs: 11,
  maxWaitingPerParty: 3,
  drainDeadlineMs: 1000,
  certs: "certs",
  stateDir: ".flock",
  logLevel: "info",
  ...more,
});

describe("relay entry (flags, env and files → config)", () => {
  it("reads certs/_relays/<name>/ and the relay CA, and takes the worker URL from FLOCK_URL", async () => {
    const config = await relayConfig(options(), { FLOCK_URL: fx.worker.url }, dir);
    expect(config).toMatchObject({
      name: RELAY_NAME,
      port: 0,
      host: "127.0.0.1",
      workerUrl: fx.worker.url,
      certPem: fx.relay.certPem,
      keyPem: fx.relay.keyPem,
      relayCaPem: fx.relayCa.certPem,
      metricsPort: 0,
      metricsHost: "127.0.0.1",
      stateFile: join(dir, ".flock", `relay-${RELAY_NAME}.json`),
      allowPlainHttpWorker: false,
      kernelSplice: true,
      limits: {
        pairingTimeoutMs: 1234,
        idleTimeoutMs: 5678,
        helloDeadlineMs: 910,
        magicDeadlineMs: 345,
        maxHandshakingPerPrefix: 7,
        handshakePrefixBitsV4: 20,
        handshakePrefixBitsV6: 48,
        maxPairs: 11,
        maxWaitingPerParty: 3,
      },
    });
  });

  it("takes the worker URL from .flock/config.json when FLOCK_URL is not set, and --no-metrics turns metrics off", async () => {
    await mkdir(join(dir, ".flock"), { recursive: true });
    await writeFile(
      join(dir, ".flock", "config.json"),
      JSON.stringify({ url: "http://127.0.0.1:9/", token: "t" }),
    );
    const config = await relayConfig(options({ metrics: false }), {}, dir);
    expect(config.workerUrl).toBe("http://127.0.0.1:9");
    expect(config.metricsPort).toBeNull();
    await rm(join(dir, ".flock"), { recursive: true });
  });

  it("FLOCK_NATIVE_SPLICE=0 turns the kernel splice off", async () => {
    const config = await relayConfig(options(), { FLOCK_URL: fx.worker.url, FLOCK_NATIVE_SPLICE: "0" }, dir);
    expect(config.kernelSplice).toBe(false);
  });

  it("says how to create a relay whose certificate is missing", async () => {
    await expect(relayConfig(options({ name: "nope" }), { FLOCK_URL: fx.worker.url }, dir)).rejects.toThrow(
      "certs/_relays/nope/cert.pem not found; register the relay first: flock create relay --name nope",
    );
  });

  it("`flock relay start` serves pairs, then drains and exits 0 on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [
        join(process.cwd(), "bin/flock.js"),
        "relay",
        "start",
        "--name",
        RELAY_NAME,
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--no-metrics",
      ],
      { cwd: dir, env: { ...process.env, FLOCK_URL: fx.worker.url }, stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
      });
      await expect.poll(() => out, { timeout: 20_000 }).toContain("data plane listening");
      const { port } = JSON.parse(out.split("\n").find((l) => l.includes("data plane listening")) as string);
      const a = await TestParty.dial({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem });
      await a.sendTicket(await fx.ticket(fx.a, fx.b), fx.a);
      expect(await a.frame()).toEqual({ type: "waiting" });
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await a.errorCode()).toBe("DRAINING");
      expect(await exited).toBe(0);
      expect(out).toContain("data plane stopped");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

describe("worker URL", () => {
  const input = (workerUrl: string, allowPlainHttpWorker?: boolean) => ({
    name: RELAY_NAME,
    host: "127.0.0.1",
    port: 0,
    workerUrl,
    allowPlainHttpWorker,
    certPem: fx.relay.certPem,
    keyPem: fx.relay.keyPem,
    relayCaPem: fx.relayCa.certPem,
    metricsPort: null,
    logger: pino({ level: "silent" }),
  });

  it("refuses plain http off loopback, since revocations and ticket keys come from it", () => {
    expect(() => validateConfig(input("http://control:8787"))).toThrow(
      new FlockError(
        "CONFIG_INVALID",
        "Data plane configuration: the worker URL http://control:8787 must be https: revocations and ticket keys come from it, and plain http is only accepted on loopback.",
      ),
    );
    expect(() => validateConfig(input("http://10.0.0.1"))).toThrow(FlockError);
  });

  it("accepts https anywhere, http on loopback, and http off loopback only when allowed", () => {
    for (const url of [
      "https://flock.example.com",
      "http://127.0.0.1:8787",
      "http://localhost:1",
      "http://[::1]:2",
    ]) {
      expect(validateConfig(input(url)).workerUrl).toBe(url);
    }
    expect(validateConfig(input("http://control:8787", true)).allowPlainHttpWorker).toBe(true);
  });
});
