import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: two levels above this module (cli/local/) and above the compiled CLI (dist/cli/). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WRANGLER_CONFIG_PATH = join(REPO_ROOT, "wrangler.toml");
export const MIGRATIONS_DIR = join(REPO_ROOT, "worker", "migrations");
const WRANGLER_BIN = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const BUNDLE_CACHE_DIR = join(REPO_ROOT, ".wrangler", "flock-bundle");
/** Everything the bundle is made from; a change to any of these makes a new bundle. */
const BUNDLE_INPUTS = ["worker", "protocol", "wrangler.toml", "package-lock.json"];
/** wrangler's bundling takes about 2 s here; this bounds a hung build. */
export const BUNDLE_BUILD_TIMEOUT_MS = 120_000;
/** Older bundles are kept this long after their last build, for processes still starting from them. */
export const BUNDLE_PRUNE_AGE_MS = 60 * 60_000;

/** Keeps wrangler (and miniflare) off the network: no telemetry, no cf.json fetch, no update check. */
export const OFFLINE_ENV = {
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
} as const;

export interface WranglerSettings {
  compatibilityDate: string;
  compatibilityFlags: string[];
  /** The D1 id wrangler uses for the local database, so `wrangler d1 ... --local` opens the same file. */
  d1DatabaseId: string;
  d1Binding: string;
}

/** The few wrangler.toml settings the local runner needs; read with patterns to avoid a TOML dependency. */
export async function readWranglerSettings(path = WRANGLER_CONFIG_PATH): Promise<WranglerSettings> {
  const toml = await readFile(path, "utf8");
  // Top-level keys come before the first [table]; the D1 keys live in the [[d1_databases]] table.
  const topLevel = toml.split(/^\s*\[/m)[0] ?? "";
  const d1Table = /^\s*\[\[d1_databases\]\]\s*$([\s\S]*?)(?=^\s*\[|(?![\s\S]))/m.exec(toml)?.[1] ?? "";
  const string = (text: string, key: string) =>
    new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"`, "m").exec(text)?.[1];
  const flags = /^\s*compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(topLevel)?.[1] ?? "";
  const compatibilityDate = string(topLevel, "compatibility_date");
  const d1DatabaseId = string(d1Table, "preview_database_id") ?? string(d1Table, "database_id");
  if (!compatibilityDate || !d1DatabaseId) {
    throw new Error(`${path} lacks compatibility_date or a [[d1_databases]] database_id`);
  }
  return {
    compatibilityDate,
    compatibilityFlags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string),
    d1DatabaseId,
    d1Binding: string(d1Table, "binding") ?? "DB",
  };
}

async function listFiles(path: string): Promise<string[]> {
  try {
    const entries = await readdir(path, { withFileTypes: true, recursive: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR") return [path];
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** A digest of the bundle's inputs: names and contents, so touching a file without changing it costs nothing. */
async function sourceDigest(): Promise<string> {
  const files = (await Promise.all(BUNDLE_INPUTS.map((p) => listFiles(join(REPO_ROOT, p))))).flat().sort();
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(`${relative(REPO_ROOT, file)}\0`);
    hash.update(await readFile(file));
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

function runWranglerBuild(outDir: string): Promise<void> {
  const args = [WRANGLER_BIN, "deploy", "--dry-run", "--outdir", outDir, "--config", WRANGLER_CONFIG_PATH];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...OFFLINE_ENV },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: BUNDLE_BUILD_TIMEOUT_MS,
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `wrangler could not bundle the worker (${signal ?? `exit ${code}`}):\n${output.slice(-2000)}`,
          ),
        );
    });
  });
}

/**
 * Path of the worker bundle (`index.js`), built with `wrangler deploy --dry-run` when the
 * sources changed since the last build. Builds go to a fresh directory renamed into place,
 * so several processes (parallel test files) can build at once and all end up with a whole bundle.
 */
export async function ensureWorkerBundle(onBuild?: () => void): Promise<string> {
  const digest = await sourceDigest();
  const finalDir = join(BUNDLE_CACHE_DIR, digest);
  const scriptPath = join(finalDir, "index.js");
  if (await exists(scriptPath)) return scriptPath;
  onBuild?.();
  await mkdir(BUNDLE_CACHE_DIR, { recursive: true });
  const buildDir = await mkdtemp(join(BUNDLE_CACHE_DIR, "build-"));
  try {
    await runWranglerBuild(buildDir);
    await rename(buildDir, finalDir);
  } catch (error) {
    await rm(buildDir, { recursive: true, force: true });
    // Another process finished the same bundle first: theirs is as good as ours.
    if (await exists(scriptPath)) return scriptPath;
    throw error;
  }
  await pruneBundles(BUNDLE_CACHE_DIR, digest);
  return scriptPath;
}

/**
 * Removes bundles (and abandoned build directories) untouched for BUNDLE_PRUNE_AGE_MS. Not
 * sooner: another process may be starting workerd from an older bundle right now.
 */
export async function pruneBundles(cacheDir: string, keep: string, nowMs = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(cacheDir)) {
    if (entry === keep) continue;
    const path = join(cacheDir, entry);
    if (nowMs - (await stat(path)).mtimeMs < BUNDLE_PRUNE_AGE_MS) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
