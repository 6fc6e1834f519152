import { Command, CommanderError } from "commander";
import { registerBackendCommands } from "./commands/backend.ts";
import { registerConnectCommand } from "./commands/connect.ts";
import { registerCreateCommands } from "./commands/create.ts";
import { registerDeleteCommands } from "./commands/delete.ts";
import { registerDevCommand } from "./commands/dev.ts";
import { registerEnvCommand } from "./commands/env.ts";
import { registerListCommands } from "./commands/list.ts";
import { registerLoginCommand } from "./commands/login.ts";
import { registerPingCommand } from "./commands/ping.ts";
import { registerRelayCommands } from "./commands/relay.ts";
import { registerRevokeCommands } from "./commands/revoke.ts";
import { registerTicketCommand } from "./commands/ticket.ts";
import { registerWskKeyCommands } from "./commands/wsk-key.ts";
import { EXIT_USAGE, reportError } from "./output.ts";

const program = new Command("flock")
  .description("Relay and control plane for serverless functions that talk to each other")
  .option("--debug", "show stack traces for unexpected errors")
  .showHelpAfterError()
  .exitOverride();

// One registrar per command file; each adds its commands to `program`.
const registrars: Array<(program: Command) => void> = [
  registerDevCommand,
  registerLoginCommand,
  registerCreateCommands,
  registerListCommands,
  registerRevokeCommands,
  registerDeleteCommands,
  registerTicketCommand,
  registerConnectCommand,
  registerEnvCommand,
  registerBackendCommands,
  registerWskKeyCommands,
  registerPingCommand,
  registerRelayCommands,
];
for (const register of registrars) register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; usage mistakes exit 2 (commander already printed why).
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    process.exitCode = reportError(error, Boolean(program.opts().debug));
  }
}
