import { type Command, InvalidArgumentError } from "commander";

/**
 * The grammar is `flock <verb> <noun>` (`create party`, `list backends`, `add backend`).
 * A verb group is shared: several command files add their nouns to it, and whichever
 * registers first creates it. Its line in `flock --help` lists its nouns (see describeGroups).
 */
export function commandGroup(program: Command, name: string, description?: string): Command {
  const group = program.commands.find((c) => c.name() === name) ?? program.command(name);
  if (description !== undefined) group.description(description);
  return group;
}

/** Groups made only to carry older spellings: hidden from `flock --help`, listed after it. */
const aliasGroups = new WeakSet<Command>();

export interface Spelling {
  verb: string;
  noun: string;
  /** The noun-verb spelling scripts used before (`backend add`): still accepted, hidden from help. */
  alias?: readonly [noun: string, verb: string];
}

/**
 * Registers `flock <verb> <noun>` and, with `alias`, the older spelling as a second command
 * built by the same `define`, so both take the same options and run the same action.
 */
export function defineCommand(
  program: Command,
  spelling: Spelling,
  define: (command: Command) => void,
): void {
  define(commandGroup(program, spelling.verb).command(spelling.noun));
  if (spelling.alias === undefined) return;
  const [noun, verb] = spelling.alias;
  let group = program.commands.find((c) => c.name() === noun);
  if (group === undefined) {
    group = program.command(noun, { hidden: true });
    aliasGroups.add(group);
  }
  const alias = group.command(verb);
  define(alias);
  // Listings show the summary; the alias's own --help keeps the full description too.
  alias.summary(`same as \`flock ${spelling.verb} ${spelling.noun}\``);
}

/** Called once every command is registered: each verb group's help line lists its nouns. */
export function describeGroups(program: Command): void {
  for (const group of program.commands) {
    if (group.commands.length === 0 || group.description() !== "") continue;
    const names = group.commands.map((c) => c.name()).join(" | ");
    group.description(aliasGroups.has(group) ? `older spelling of: ${names}` : names);
  }
}

/** The older spellings, for the end of `flock --help`. */
export function olderSpellings(program: Command): string {
  const lines = program.commands
    .filter((group) => aliasGroups.has(group))
    .flatMap((group) =>
      group.commands.map((c) => `  flock ${group.name()} ${c.name()}`.padEnd(30) + c.summary()),
    );
  return lines.length === 0 ? "" : `\nOlder spellings, still accepted:\n${lines.join("\n")}\n`;
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
