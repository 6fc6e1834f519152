import { Command, CommanderError } from "commander";
import { describeGroups, olderSpellings } from "./command-group.ts";
import { EXIT_USAGE, reportError } from "./output.ts";

/** Adds a command file's commands to the program. */
export type Registrar = (program: Command) => void;

/**
 * The `flock` root with the given commands; failures surface as CommanderError
 * (exitOverride) for runProgram to map. The whole tree (program.ts) and the data plane's
 * own entry (relay-main.ts) are both built here, so a command reads and prints the same in
 * either.
 */
export function rootProgram(version: string, registrars: readonly Registrar[]): Command {
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
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    // --help and --version exit 0; usage mistakes exit 2 (commander already printed why).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    return reportError(error, Boolean(program.opts().debug));
  }
}
