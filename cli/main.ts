import { Command, CommanderError } from "commander";
import { EXIT_USAGE, reportError } from "./output.ts";

const program = new Command("flock")
  .description("Relay and control plane for serverless functions that talk to each other")
  .option("--debug", "show stack traces for unexpected errors")
  .showHelpAfterError()
  .exitOverride();

// One registrar per command file; each adds its commands to `program`.
const registrars: Array<(program: Command) => void> = [];
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
