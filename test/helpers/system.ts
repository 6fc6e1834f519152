/**
 * The whole Flock system for end-to-end tests and benches: the real worker (workerd via
 * startLocalWorker, temp state dir, port 0), the real data plane registered as a relay and
 * reporting, and users and parties made the way `flock create` makes them (keys and CSRs
 * here, relay certificates from the worker, party certificates from a user CA that is
 * never uploaded). The PKI helpers at the top need no worker, for unit tests.
 */
import "reflect-metadata";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import pino from "pino";
import { ApiClient } from "../../cli/api-client.ts";
import { hostNames } from "../../cli/certs/csr.ts";
import type { KeyMaterial } from "../../cli/certs/keys.ts";
import { generateKey } from "../../cli/certs/keys.ts";
import { relayPaths } from "../../cli/certs/layout.ts";
import { createUserCa, signPartyCertificate } from "../../cli/certs/user-ca.ts";
import type { CreateContext } from "../../cli/commands/create.ts";
import { createParty, createRelay, createUser } from "../../cli/commands/create.ts";
import { readPartyConfig } from "../../cli/commands/env.ts";
import type { LocalWorker } from "../../cli/local/local-worker.ts";
import { startLocalWorker } from "../../cli/local/local-worker.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import type { DataPlaneLimits } from "../../dataplane/config.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import type { RelayLoad } from "../../protocol/api.ts";
import { certificateThumbprint } from "../../protocol/encoding.ts";
import { relayUri } from "../../protocol/names.ts";
import { SIGNED_REQUEST_CONTENT_TYPE, signRequest } from "../../protocol/signed-request.ts";
import { freePort } from "./free-port.ts";
import { UNTHROTTLED_TICKET_VARS } from "./local-worker.ts";

export interface TestCa {
  name: string;
  pem: string;
  key: KeyMaterial;
}

/** A CA like a user's; unit tests also use one as a stand-in relay CA. */
export async function makeCa(name: string): Promise<TestCa> {
  const key = await generateKey("ec");
  return { name, pem: await createUserCa(key, name), key };
}

/** A leaf with SAN `urn:flock:party:<user>:<party>` signed by `ca`: a party certificate, or a relay one. */
export async function issuePartyCertificate(
  ca: TestCa,
  user: string,
  party: string,
  keyType: "ec" | "rsa" = "ec",
): Promise<{ cert: string; key: string }> {
  const key = await generateKey(keyType);
  return { cert: await signPartyCertificate(ca.pem, ca.key, key, user, party), key: key.privateKeyPem };
}

/** A data plane server certificate (SAN `urn:flock:relay:<name>` + hosts) signed by `ca`, for fake relays. */
export async function issueRelayCertificate(
  ca: TestCa,
  relay: string,
  hosts: string[],
): Promise<{ cert: string; key: string }> {
  const key = await generateKey("ec");
  const issuer = new x509.X509Certificate(ca.pem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "01",
    subject: `CN=${relay}, OU=flock-relay`,
    issuer: issuer.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: key.keys.publicKey,
    signingKey: ca.key.keys.privateKey,
    signingAlgorithm: ca.key.signingAlgorithm,
    extensions: [
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        { type: "url", value: relayUri(relay) },
        ...hostNames(hosts),
      ]),
    ],
  });
  return { cert: cert.toString("pem"), key: key.privateKeyPem };
}

/** An identity with no worker behind it: for identity parsing and handshake tests. */
export async function offlineIdentity(
  user: string,
  party: string,
  cas: { relayCa: TestCa; userCa: TestCa },
  extra: { url?: string; dest?: string } = {},
): Promise<IdentityMaterials> {
  const relay = await issuePartyCertificate(cas.relayCa, user, party);
  const end = await issuePartyCertificate(cas.userCa, user, party);
  return {
    url: extra.url ?? "http://127.0.0.1:9",
    relayCa: cas.relayCa.pem,
    relayCert: relay.cert,
    relayKey: relay.key,
    userCa: cas.userCa.pem,
    partyCert: end.cert,
    partyKey: end.key,
    ...(extra.dest ? { dest: extra.dest } : {}),
  };
}

/** Identity materials as the environment variables `flock env` prints. */
export function identityEnv(materials: IdentityMaterials): Record<string, string> {
  return {
    FLOCK_URL: materials.url,
    RELAY_CA: materials.relayCa,
    RELAY_CERT: materials.relayCert,
    RELAY_KEY: materials.relayKey,
    USER_CA: materials.userCa,
    PARTY_CERT: materials.partyCert,
    PARTY_KEY: materials.partyKey,
    ...(materials.dest ? { DEST: materials.dest } : {}),
  };
}

export interface SystemRelay {
  name: string;
  port: number;
  certPem: string;
  keyPem: string;
}

export interface FlockSystem {
  url: string;
  worker: LocalWorker;
  admin: ApiClient;
  /** Where users' CAs and parties' keys are written, as `flock create` would in certs/. */
  certsDir: string;
  relayCa: string;
  dataPlanes: DataPlane[];
  createUser(name: string): Promise<void>;
  /** A registered party's identity, as `flock env` would print it. */
  party(user: string, party: string, dest?: string): Promise<IdentityMaterials>;
  /** Registers a relay on a free port of 127.0.0.1 without starting anything on it. */
  registerRelay(name: string): Promise<SystemRelay>;
  /** Registers a relay and runs the real data plane for it, reporting to the worker. */
  startDataPlane(name: string, limits?: Partial<DataPlaneLimits>): Promise<DataPlane>;
  /**
   * Runs the real data plane for a registered relay. With `listenPort` (0: any) it listens
   * there instead of on the registered port, so a test can put something of its own (a
   * proxy) on the address the worker sends parties to.
   */
  runDataPlane(
    relay: SystemRelay,
    limits?: Partial<DataPlaneLimits>,
    listenPort?: number,
  ): Promise<DataPlane>;
  /**
   * The same, in a child process: for benchmarks, so the relay does not share one core's
   * event loop with the two endpoints it serves, or to be killed like a crashed one. Stopped
   * by `stop()` if still running.
   */
  startDataPlaneProcess(name: string, limits?: Partial<DataPlaneLimits>): Promise<ChildProcess>;
  /** Reports load for a relay as its data plane would, so the worker hands out tickets for it. */
  reportLoad(relay: SystemRelay): Promise<void>;
  stop(): Promise<void>;
}

/** Runs the real data plane from a JSON config in FLOCK_TEST_DATA_PLANE; prints one line when it has reported. */
const DATA_PLANE_SCRIPT = `
const { startDataPlane } = await import(${JSON.stringify(new URL("../../dataplane/server.ts", import.meta.url).href)});
const { default: pino } = await import("pino");
const dataPlane = await startDataPlane({ ...JSON.parse(process.env.FLOCK_TEST_DATA_PLANE), logger: pino({ level: "silent" }) });
await dataPlane.reportNow();
process.stdout.write("ready\\n");
process.once("SIGTERM", () => dataPlane.stop().then(() => process.exit(0)));
`;

/**
 * Starts the worker in workerd with a fresh state dir and, unless `dataPlane: false`, one
 * real data plane named `relay-1`. Everything listens on 127.0.0.1; `stop()` removes it all.
 */
export async function startSystem(
  options: { dataPlane?: boolean | "child-process" } = {},
): Promise<FlockSystem> {
  const stateDir = await mkdtemp(join(tmpdir(), "flock-e2e-"));
  const certsDir = join(stateDir, "certs");
  const worker = await startLocalWorker({
    stateDir: join(stateDir, "worker"),
    port: 0,
    quiet: true,
    vars: UNTHROTTLED_TICKET_VARS,
  });
  const admin = new ApiClient({ url: worker.url, token: worker.adminToken });
  const context: CreateContext = { client: admin, certsDir };
  const relayCa = await admin.relayCa();
  const dataPlanes: DataPlane[] = [];
  const children: ChildProcess[] = [];

  const registerRelay = async (name: string): Promise<SystemRelay> => {
    const port = await freePort();
    await createRelay(context, { name, hosts: ["127.0.0.1"], port });
    const paths = relayPaths(certsDir, name);
    return {
      name,
      port,
      certPem: await readFile(paths.cert, "utf8"),
      keyPem: await readFile(paths.key, "utf8"),
    };
  };

  /** What a data plane for a registered relay needs, in this process or a child (JSON). */
  const dataPlaneConfig = (relay: SystemRelay) => ({
    name: relay.name,
    host: "127.0.0.1",
    port: relay.port,
    workerUrl: worker.url,
    certPem: relay.certPem,
    keyPem: relay.keyPem,
    relayCaPem: relayCa,
    metricsPort: null,
  });

  const system: FlockSystem = {
    url: worker.url,
    worker,
    admin,
    certsDir,
    relayCa,
    dataPlanes,
    createUser: async (name) => {
      await createUser(context, name);
    },
    party: async (user, party, dest) => {
      await createParty(context, user, party);
      const {
        user: _u,
        party: _p,
        ...materials
      } = await readPartyConfig({
        user,
        party,
        url: worker.url,
        certsDir,
        ...(dest ? { dest } : {}),
      });
      return materials;
    },
    registerRelay,
    startDataPlane: async (name, limits) => system.runDataPlane(await registerRelay(name), limits),
    runDataPlane: async (relay, limits, listenPort) => {
      const { startDataPlane } = await import("../../dataplane/server.ts");
      const dataPlane = await startDataPlane({
        ...dataPlaneConfig(listenPort === undefined ? relay : { ...relay, port: listenPort }),
        logger: pino({ level: "silent" }),
        ...(limits ? { limits } : {}),
      });
      dataPlanes.push(dataPlane);
      await dataPlane.reportNow();
      return dataPlane;
    },
    startDataPlaneProcess: async (name, limits) => {
      const config = { ...dataPlaneConfig(await registerRelay(name)), ...(limits ? { limits } : {}) };
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", DATA_PLANE_SCRIPT],
        {
          env: { ...process.env, FLOCK_TEST_DATA_PLANE: JSON.stringify(config) },
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.once("exit", (code) => reject(new Error(`the data plane process exited with ${code}`)));
        child.stdout?.once("data", () => resolve());
      });
      return child;
    },
    reportLoad: async (relay) => {
      const key = createPrivateKey(relay.keyPem);
      const kid = await certificateThumbprint(new Uint8Array(new X509Certificate(relay.certPem).raw));
      const load: RelayLoad = { activePairs: 0, waitingSides: 0, bytesPerSecond: 0, capacity: 1000 };
      const path = "/v1/relays/report";
      const jws = await signRequest(
        key,
        key.asymmetricKeyType === "rsa" ? "RS256" : "ES256",
        kid,
        "POST",
        path,
        load,
      );
      await admin.request("POST", path, jws, { contentType: SIGNED_REQUEST_CONTENT_TYPE });
    },
    stop: async () => {
      await Promise.allSettled(dataPlanes.map((d) => d.stop()));
      await Promise.all(
        children.map((child) =>
          child.exitCode === null && child.signalCode === null
            ? new Promise((resolve) => child.once("exit", resolve).kill("SIGTERM"))
            : undefined,
        ),
      );
      await worker.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  try {
    if (options.dataPlane === "child-process") await system.startDataPlaneProcess("relay-1");
    else if (options.dataPlane !== false) await system.startDataPlane("relay-1");
  } catch (error) {
    await system.stop();
    throw error;
  }
  return system;
}

/** A system with user `acme` and its parties `alice` and `bob`, each other's default peer. */
export async function startSystemWithPair(
  options: { dataPlane?: boolean | "child-process" } = {},
): Promise<{ system: FlockSystem; alice: IdentityMaterials; bob: IdentityMaterials }> {
  const system = await startSystem(options);
  await system.createUser("acme");
  return {
    system,
    alice: await system.party("acme", "alice", "bob"),
    bob: await system.party("acme", "bob", "alice"),
  };
}
