import type { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../../cli/program.ts";

/** Every runnable command, as the words a user types. */
function leafPaths(command: Command, prefix: string[] = []): string[][] {
  if (command.commands.length === 0) return [prefix];
  return command.commands
    .filter((c) => c.name() !== "help")
    .flatMap((c) => leafPaths(c, [...prefix, c.name()]));
}

function find(program: Command, path: string[]): Command | undefined {
  let at: Command | undefined = program;
  for (const word of path) at = at?.commands.find((c) => c.name() === word);
  return at;
}

const flags = (command: Command) => command.options.map((o) => o.flags).sort();

/** `flock <path> --help` in process: its exit code and what it printed. */
async function help(path: string[]): Promise<{ exitCode: number; out: string }> {
  let out = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  try {
    await buildProgram("0.0.0-test").parseAsync(["node", "flock", ...path, "--help"]);
    return { exitCode: -1, out };
  } catch (error) {
    return { exitCode: (error as { exitCode: number }).exitCode, out };
  } finally {
    vi.restoreAllMocks();
  }
}

const OLDER_SPELLINGS: Array<[older: string[], canonical: string[]]> = [
  [
    ["backend", "add"],
    ["add", "backend"],
  ],
  [
    ["backend", "list"],
    ["list", "backends"],
  ],
  [
    ["backend", "remove"],
    ["remove", "backend"],
  ],
  [
    ["backend", "policy"],
    ["set", "backend-policy"],
  ],
  [
    ["wsk-key", "create"],
    ["create", "wsk-key"],
  ],
  [
    ["wsk-key", "list"],
    ["list", "wsk-keys"],
  ],
  [
    ["wsk-key", "revoke"],
    ["revoke", "wsk-key"],
  ],
];

describe("flock command grammar", () => {
  afterEach(() => vi.restoreAllMocks());
  const program = buildProgram("0.0.0-test");

  it("spells registry commands verb first: create, list, revoke, delete, add, remove, set", () => {
    const groups = program.commands.filter((c) => c.commands.length > 0 && !hidden(c)).map((c) => c.name());
    expect(groups).toEqual(
      expect.arrayContaining(["create", "list", "revoke", "delete", "add", "remove", "set"]),
    );
    expect(groups).not.toContain("backend");
    expect(groups).not.toContain("wsk-key");
  });

  it.each(
    OLDER_SPELLINGS,
  )("keeps `flock %j` as a hidden alias with the options of %j", (older, canonical) => {
    const alias = find(program, older);
    const real = find(program, canonical);
    expect(alias).toBeDefined();
    expect(real).toBeDefined();
    expect(flags(alias as Command)).toEqual(flags(real as Command));
    expect(alias?.summary()).toBe(`same as \`flock ${canonical.join(" ")}\``);
    expect(hidden(find(program, older.slice(0, 1)) as Command)).toBe(true);
  });

  it("lists the older spellings at the end of `flock --help`", async () => {
    const { exitCode, out } = await help([]);
    expect(exitCode).toBe(0);
    expect(out).toContain("Older spellings, still accepted:");
    for (const [older, canonical] of OLDER_SPELLINGS) {
      expect(out).toMatch(new RegExp(`flock ${older.join(" ")} +same as \`flock ${canonical.join(" ")}\``));
    }
    expect(out).toMatch(/^ {2}-V, --version +print the version$/m);
  });

  it("gives every command --help, exit code 0", async () => {
    const paths = leafPaths(program);
    expect(paths.length).toBeGreaterThan(20);
    for (const path of paths) {
      const { exitCode, out } = await help(path);
      expect({ path, exitCode }).toEqual({ path, exitCode: 0 });
      expect(out).toContain(`Usage: flock ${path.join(" ")}`);
    }
  });

  it("gives every list --json", () => {
    const lists = [...(find(program, ["list"])?.commands ?? [])].filter((c) => c.name() !== "help");
    expect(lists.map((c) => c.name())).toEqual(
      expect.arrayContaining(["users", "parties", "relays", "tickets", "backends", "wsk-keys"]),
    );
    for (const list of lists) expect(flags(list)).toContain("--json");
  });
});

/** Commander keeps `hidden` private; help output is what users see, so ask it. */
function hidden(command: Command): boolean {
  return !command.parent?.createHelp().visibleCommands(command.parent).includes(command);
}
