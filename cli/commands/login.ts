import type { Command } from "commander";
import { ApiClient } from "../api-client.ts";
import { type CliConfig, resolveWorkerUrl, writeConfig } from "../config.ts";
import { UserError } from "../output.ts";

export interface LoginResult {
  config: CliConfig;
  /** Where the config was written. */
  path: string;
}

/** Checks URL and token against an admin endpoint before saving them, so a typo fails now, not later. */
export async function login(url: string, token: string, cwd: string = process.cwd()): Promise<LoginResult> {
  if (!token) throw new UserError("--token must not be empty.");
  const config = { url: await resolveWorkerUrl({ url, cwd }), token };
  await new ApiClient(config).request("GET", "/v1/users?limit=1");
  return { config, path: await writeConfig(config, cwd) };
}

export function registerLoginCommand(program: Command): void {
  program
    .command("login")
    .description("check a worker URL and admin token and save them to .flock/config.json (mode 0600)")
    .requiredOption("--url <url>", "worker URL, e.g. https://flock.example.workers.dev")
    .requiredOption("--token <token>", "admin token (ADMIN_TOKEN secret of the worker)")
    .action(async (flags: { url: string; token: string }) => {
      const { config, path } = await login(flags.url, flags.token);
      process.stdout.write(`Logged in to ${config.url}; saved ${path}.\n`);
    });
}
