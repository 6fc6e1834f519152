import { type Command, InvalidArgumentError } from "commander";

/**
 * The noun-verb groups (`create`, `list`, ...) are shared: several command files add
 * subcommands to the same group, whichever registers first creates it.
 */
export function commandGroup(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

/** `--url` and `--token` on every admin command; they win over FLOCK_URL/FLOCK_TOKEN and .flock/config.json. */
export function withAdminOptions(command: Command): Command {
  return command
    .option("--url <url>", "worker URL (default: $FLOCK_URL or .flock/config.json)")
    .option("--token <token>", "admin token (default: $FLOCK_TOKEN or .flock/config.json)");
}

export interface AdminOptions {
  url?: string;
  token?: string;
}

/** Commander hands a repeatable option its previous values; this collects them in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Option parser for whole numbers in [min, max]; a bad value is a usage error (exit 2). */
export function integerIn(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}
