import type { Command } from "commander";
import { registerBackendCommands } from "./commands/backend.ts";
import { registerConnectCommand } from "./commands/connect.ts";
import { registerCreateCommands } from "./commands/create.ts";
import { registerDeleteCommands } from "./commands/delete.ts";
import { registerDevCommand } from "./commands/dev.ts";
import { registerEnvCommand } from "./commands/env.ts";
import { registerExportCommand } from "./commands/export.ts";
import { registerListCommands } from "./commands/list.ts";
import { registerLoginCommand } from "./commands/login.ts";
import { registerPingCommand } from "./commands/ping.ts";
import { registerRelayCommands } from "./commands/relay.ts";
import { registerRevokeCommands } from "./commands/revoke.ts";
import { registerTicketCommand } from "./commands/ticket.ts";
import { registerTunnelCommand } from "./commands/tunnel.ts";
import { registerWskKeyCommands } from "./commands/wsk-key.ts";
import type { Registrar } from "./root-program.ts";
import { rootProgram, runProgram } from "./root-program.ts";

/** One registrar per command file; each adds its commands to the program. */
const registrars: Registrar[] = [
  registerDevCommand,
  registerLoginCommand,
  registerCreateCommands,
  registerListCommands,
  registerRevokeCommands,
  registerDeleteCommands,
  registerBackendCommands,
  registerWskKeyCommands,
  registerTicketCommand,
  registerConnectCommand,
  registerTunnelCommand,
  registerEnvCommand,
  registerExportCommand,
  registerPingCommand,
  registerRelayCommands,
];

/** The whole `flock` command tree; failures surface as CommanderError (exitOverride) for main.ts to map. */
export function buildProgram(version: string): Command {
  return rootProgram(version, registrars);
}

/** Runs one command line and returns the exit code (see output.ts for what each means). */
export function runFlock(argv: string[], version: string): Promise<number> {
  return runProgram(buildProgram(version), argv);
}
