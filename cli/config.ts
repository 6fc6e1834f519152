import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "./output.ts";

/** Where the CLI finds the worker and its admin token. */
export interface CliConfig {
  url: string;
  token: string;
}

export const STATE_DIR_NAME = ".flock";
export const CONFIG_FILE_NAME = "config.json";
export const URL_ENV = "FLOCK_URL";
export const TOKEN_ENV = "FLOCK_TOKEN";

export interface ConfigSources {
  /** From flags (`--url`, `--token`); these win. */
  url?: string;
  token?: string;
  /** Directory holding `.flock/config.json`; defaults to the process's cwd. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function configPath(cwd: string = process.cwd()): string {
  return join(cwd, STATE_DIR_NAME, CONFIG_FILE_NAME);
}

const NOTHING_CONFIGURED =
  "No Flock worker configured: run `flock dev` (local) or `flock login --url URL --token TOKEN`, or set FLOCK_URL and FLOCK_TOKEN.";

/** Reads `.flock/config.json`; undefined when there is none. A broken file is a user error, not a crash. */
export async function readConfigFile(cwd?: string): Promise<Partial<CliConfig> | undefined> {
  const path = configPath(cwd);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UserError(`Cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UserError(`${path} is not valid JSON; fix it or run \`flock login\` again.`);
  }
  if (typeof parsed !== "object" || parsed === null) {
    throw new UserError(`${path} must hold a JSON object {url, token}.`);
  }
  const { url, token } = parsed as Record<string, unknown>;
  return {
    url: typeof url === "string" ? url : undefined,
    token: typeof token === "string" ? token : undefined,
  };
}

function checkUrl(url: string, from: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`The worker URL from ${from} is not a URL: ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UserError(`The worker URL from ${from} must be http or https: ${url}`);
  }
  return url.replace(/\/+$/, "");
}

/** The worker URL alone (for commands that need no admin token): flag > env > config file. */
export async function resolveWorkerUrl(sources: ConfigSources = {}): Promise<string> {
  const env = sources.env ?? process.env;
  if (sources.url) return checkUrl(sources.url, "--url");
  if (env[URL_ENV]) return checkUrl(env[URL_ENV], URL_ENV);
  const file = await readConfigFile(sources.cwd);
  if (file?.url) return checkUrl(file.url, configPath(sources.cwd));
  throw new UserError(NOTHING_CONFIGURED);
}

/** URL and admin token, each taken from flags > env FLOCK_URL/FLOCK_TOKEN > `.flock/config.json`. */
export async function resolveConfig(sources: ConfigSources = {}): Promise<CliConfig> {
  const env = sources.env ?? process.env;
  const url = await resolveWorkerUrl(sources);
  const token = sources.token || env[TOKEN_ENV] || (await readConfigFile(sources.cwd))?.token;
  if (!token) throw new UserError(NOTHING_CONFIGURED);
  return { url, token };
}

/** Writes `.flock/config.json` readable by the owner only: it holds the admin token. */
export async function writeConfig(config: CliConfig, cwd: string = process.cwd()): Promise<string> {
  const path = configPath(cwd);
  await mkdir(join(cwd, STATE_DIR_NAME), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only when it creates the file; an older file keeps its bits.
  await chmod(path, 0o600);
  return path;
}
