import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { MiniflareOptions } from "miniflare";
import { UserError } from "../output.ts";
import { applyMigrationsRestarting } from "./d1-migrations.ts";
import { assertPortFree } from "./port.ts";
import { generateSecrets } from "./secrets.ts";
import { ensureWorkerBundle, MIGRATIONS_DIR, readWranglerSettings } from "./worker-bundle.ts";

export type WorkerSecrets = Awaited<ReturnType<typeof generateSecrets>>;

/** The keys of `.flock/secrets.json`, exactly (contract.md "Worker secrets"). */
export const SECRET_NAMES = [
  "RELAY_CA_CERT",
  "RELAY_CA_KEY",
  "TICKET_KEYS",
  "ADMIN_TOKEN",
  "BACKEND_SECRET_KEY",
] as const;
export const SECRETS_FILE_NAME = "secrets.json";
export const DEFAULT_LOCAL_HOST = "127.0.0.1";
/** Deployed, the cron in wrangler.toml sweeps daily; workerd locally runs no crons, so we do. */
const LOCAL_SWEEP_INTERVAL_MS = 24 * 60 * 60 * 1000;

export interface LocalWorkerOptions {
  /** Holds secrets.json and the persisted D1 (under v3/d1, where `wrangler --persist-to` looks). */
  stateDir: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Drop the worker's console output instead of copying it to `logs`. */
  quiet?: boolean;
  /** Where the worker's console output (JSON log lines) goes; a new writable per stream, default stderr. */
  logs?: () => Writable;
  /** Worker vars, as wrangler.toml [vars] would set them (e.g. the ticket rate limit). */
  vars?: Record<string, string>;
  /** Called before slow steps (bundling), for progress lines. */
  onProgress?: (message: string) => void;
}

export interface LocalWorker {
  /** `http://host:port`, no trailing slash; the real port when 0 was asked. */
  url: string;
  adminToken: string;
  secrets: WorkerSecrets;
  /** Migrations applied by this start (empty when the database was current). */
  migrationsApplied: string[];
  /** Whether secrets.json was created by this start. */
  createdSecrets: boolean;
  stop(): Promise<void>;
}

/**
 * Runs the worker locally in workerd through Miniflare, with the same bundle wrangler
 * would deploy, a D1 persisted under `stateDir`, and secrets from `stateDir/secrets.json`.
 */
export async function startLocalWorker(options: LocalWorkerOptions): Promise<LocalWorker> {
  const host = options.host ?? DEFAULT_LOCAL_HOST;
  const port = options.port ?? 0;
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const { secrets, created } = await loadOrCreateSecrets(options.stateDir);
  if (port !== 0) await assertPortFree(host, port, "--port");
  const settings = await readWranglerSettings();
  const scriptPath = await ensureWorkerBundle(() =>
    options.onProgress?.("bundling the worker with wrangler"),
  );

  // Loaded here, not at the top: only `flock dev` and tests need workerd, not every CLI call.
  const { Miniflare } = await import("miniflare");
  const mfOptions: MiniflareOptions = {
    scriptPath,
    modules: true,
    // Module names are paths relative to this root; the default (cwd) breaks when the CLI runs elsewhere.
    modulesRoot: dirname(scriptPath),
    compatibilityDate: settings.compatibilityDate,
    compatibilityFlags: settings.compatibilityFlags,
    d1Databases: { [settings.d1Binding]: settings.d1DatabaseId },
    d1Persist: join(options.stateDir, "v3", "d1"),
    bindings: { ...options.vars, ...secrets },
    host,
    port,
    // No cf.json download (3 s time-out per start when offline): the fallback request.cf is enough.
    cf: false,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      for (const stream of [stdout, stderr]) {
        if (options.quiet) stream.resume();
        else stream.pipe(options.logs?.() ?? process.stderr, { end: false });
      }
    },
  };
  let mf = new Miniflare(mfOptions);
  let sweeps: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    clearInterval(sweeps);
    stopped ??= mf.dispose();
    return stopped;
  };
  try {
    const migrationsApplied = await applyMigrationsRestarting(
      () => mf.getD1Database(settings.d1Binding),
      async () => {
        await mf.dispose();
        mf = new Miniflare(mfOptions);
      },
      MIGRATIONS_DIR,
    );
    // After the migrations: a new instance for port 0 may have another port.
    const ready = await mf.ready;
    const worker = await mf.getWorker();
    const sweep = async () => {
      const { outcome } = await worker.scheduled({ cron: "local" });
      // workerd has already printed the exception itself.
      if (outcome !== "ok") throw new Error(`the worker's scheduled sweep ended with ${outcome}`);
    };
    await sweep();
    // A later failure is printed by workerd and retried the next day; it must not end `flock dev`.
    sweeps = setInterval(() => sweep().catch(() => {}), LOCAL_SWEEP_INTERVAL_MS).unref();
    return {
      url: ready.origin,
      adminToken: secrets.ADMIN_TOKEN,
      secrets,
      migrationsApplied,
      createdSecrets: created,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** secrets.json is created once (mode 0600, exclusive create) and reused on every later start. */
async function loadOrCreateSecrets(stateDir: string): Promise<{ secrets: WorkerSecrets; created: boolean }> {
  const path = join(stateDir, SECRETS_FILE_NAME);
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (text === undefined) {
    const secrets = await generateSecrets();
    try {
      await writeFile(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: "wx" });
      return { secrets, created: true };
    } catch (error) {
      // Someone else created it between our read and write: use theirs.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      text = await readFile(path, "utf8");
    }
  }
  await chmod(path, 0o600);
  return { secrets: parseSecrets(text, path), created: false };
}

function parseSecrets(text: string, path: string): WorkerSecrets {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UserError(
      `${path} is not valid JSON; delete it to generate new secrets (existing certificates then stop verifying).`,
    );
  }
  const record = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const missing = SECRET_NAMES.filter((name) => typeof record[name] !== "string" || record[name] === "");
  if (missing.length > 0) throw new UserError(`${path} lacks ${missing.join(", ")}.`);
  return Object.fromEntries(SECRET_NAMES.map((name) => [name, record[name]])) as unknown as WorkerSecrets;
}
