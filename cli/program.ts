import { Command, CommanderError } from "commander";
import { describeGroups, olderSpellings } from "./command-group.ts";
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
import { EXIT_USAGE, reportError } from "./output.ts";

/** One registrar per command file; each adds its commands to the program. */
const registrars: Array<(program: Command) => void> = [
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
  const program = new Command("flock")
    .description("Relay and control plane for serverless functions that talk to each other")
    .version(version, "-V, --version", "print the version")
    .option("--debug", "show stack traces for unexpected errors")
    .showHelpAfterError()
    .exitOverride();
  for (const register of registrars) register(program);
  describeGroups(program);
  program.addHelpText("after", () => olderSpellings(program));
  return program;
}

/** Runs one command line and returns the exit code (see output.ts for what each means). */
export async function runFlock(argv: string[], version: string): Promise<number> {
  const program = buildProgram(version);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    // --help and --version exit 0; usage mistakes exit 2 (commander already printed why).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    return reportError(error, Boolean(program.opts().debug));
  }
}
