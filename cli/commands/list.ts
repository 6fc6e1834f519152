import type { Command } from "commander";
import type { PartyInfo, RelayInfo, UserInfo } from "../../protocol/api.ts";
import { assertName } from "../../protocol/names.ts";
import { adminClient } from "../api-client.ts";
import { type AdminOptions, commandGroup, integerIn, withAdminOptions } from "../command-group.ts";
import { printJson, printTable } from "../output.ts";

interface ListFlags extends AdminOptions {
  json?: boolean;
  limit?: number;
  user?: string;
}

/** Upper bound for --limit; without --limit every page is followed. */
export const MAX_LIST_LIMIT = 1_000_000;

function listCommand(group: Command, noun: string, description: string): Command {
  return withAdminOptions(
    group
      .command(noun)
      .description(description)
      .option("--json", "print a JSON array")
      .option("--limit <n>", "stop after n items (default: all)", integerIn(1, MAX_LIST_LIMIT)),
  );
}

const dash = (value: string | undefined) => value ?? "-";

export function printUsers(users: UserInfo[]): void {
  printTable(users, [
    ["name", (u) => u.name],
    ["created", (u) => u.createdAt],
  ]);
}

export function printParties(parties: PartyInfo[]): void {
  printTable(parties, [
    ["user", (p) => p.user],
    ["name", (p) => p.name],
    ["status", (p) => p.status],
    ["not after", (p) => p.notAfter],
    ["fingerprint", (p) => p.fingerprint],
  ]);
}

export function printRelays(relays: RelayInfo[]): void {
  printTable(relays, [
    ["name", (r) => r.name],
    ["address", (r) => `${r.hosts.join(",")}:${r.port}`],
    ["status", (r) => r.status],
    ["live", (r) => (r.live ? "yes" : "no")],
    ["last report", (r) => dash(r.lastReportAt)],
    ["pairs", (r) => (r.load ? `${r.load.activePairs}/${r.load.capacity}` : "-")],
  ]);
}

export function registerListCommands(program: Command): void {
  const list = commandGroup(program, "list", "list users, parties or relays");

  listCommand(list, "users", "list users").action(async (flags: ListFlags) => {
    const users = await (await adminClient(flags)).listUsers({ limit: flags.limit });
    if (flags.json) printJson(users);
    else printUsers(users);
  });

  listCommand(list, "parties", "list parties (of one user with --user)")
    .option("--user <user>", "only this user's parties")
    .action(async (flags: ListFlags) => {
      const user = flags.user === undefined ? undefined : assertName(flags.user, "user");
      const parties = await (await adminClient(flags)).listParties(user, { limit: flags.limit });
      if (flags.json) printJson(parties);
      else printParties(parties);
    });

  listCommand(list, "relays", "list relays and whether they reported recently").action(
    async (flags: ListFlags) => {
      const relays = await (await adminClient(flags)).listRelays({ limit: flags.limit });
      if (flags.json) printJson(relays);
      else printRelays(relays);
    },
  );
}
