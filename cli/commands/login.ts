import type { Command } from "commander";
import { ApiClient } from "../api-client.ts";
import { type CliConfig, resolveWorkerUrl, TOKEN_ENV, writeConfig } from "../config.ts";
import { UserError } from "../output.ts";

export interface LoginResult {
  config: CliConfig;
  /** Where the config was written. */
  path: string;
}

/** Checks URL and token against an admin endpoint before saving them, so a typo fails now, not later. */
export async function login(url: string, token: string, cwd: string = process.cwd()): Promise<LoginResult> {
  if (!token) throw new UserError("The admin token must not be empty.");
  const config = { url: await resolveWorkerUrl({ url, cwd }), token };
  await new ApiClient(config).request("GET", "/v1/users?limit=1");
  return { config, path: await writeConfig(config, cwd) };
}

/**
 * The token from the flag, else FLOCK_TOKEN, else a line on stdin when it is piped: a flag
 * shows in `ps` and shell history, so the other two are the ones the docs recommend.
 */
export async function loginToken(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  stdin: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
): Promise<string> {
  if (flag) return flag;
  if (env[TOKEN_ENV]) return env[TOKEN_ENV];
  if (stdin.isTTY) throw new UserError(`Give the admin token in ${TOKEN_ENV} or on stdin (or --token).`);
  let text = "";
  for await (const chunk of stdin) text += chunk.toString();
  return text.trim();
}

export function registerLoginCommand(program: Command): void {
  program
    .command("login")
    .description("check a worker URL and admin token and save them to .flock/config.json (mode 0600)")
    .requiredOption("--url <url>", "worker URL, e.g. https://flock.example.workers.dev")
    .option("--token <token>", "admin token (default: $FLOCK_TOKEN, else read from stdin)")
    .action(async (flags: { url: string; token?: string }) => {
      const { config, path } = await login(flags.url, await loginToken(flags.token));
      process.stdout.write(`Logged in to ${config.url}; saved ${path}.\n`);
    });
}
