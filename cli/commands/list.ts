import type { Command } from "commander";
import type { PartyInfo, RelayInfo, TicketInfo, UserInfo } from "../../protocol/api.ts";
import { assertName } from "../../protocol/names.ts";
import { adminClient } from "../api-client.ts";
import { type AdminOptions, commandGroup, integerIn, withAdminOptions } from "../command-group.ts";
import { printJson, printTable } from "../output.ts";

interface ListFlags extends AdminOptions {
  json?: boolean;
  limit?: number;
  user?: string;
  party?: string;
}

/** Upper bound for --limit; without --limit every page is followed. */
export const MAX_LIST_LIMIT = 1_000_000;
/** The audit grows with every ticket, so its list stops here unless --limit says otherwise. */
export const DEFAULT_TICKET_LIST_LIMIT = 100;

function listCommand(group: Command, noun: string, description: string, defaultLimit?: number): Command {
  const limitHelp = `stop after n items (default: ${defaultLimit ?? "all"})`;
  return withAdminOptions(
    group
      .command(noun)
      .description(description)
      .option("--json", "print a JSON array")
      .option("--limit <n>", limitHelp, integerIn(1, MAX_LIST_LIMIT), defaultLimit),
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

export function printTickets(tickets: TicketInfo[]): void {
  printTable(tickets, [
    ["issued", (t) => t.issuedAt],
    ["party", (t) => t.party],
    ["dest", (t) => t.dest],
    ["relay", (t) => t.relay],
    ["pair", (t) => t.pair],
    ["jti", (t) => t.jti],
  ]);
}

export function registerListCommands(program: Command): void {
  const list = commandGroup(program, "list");

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

  listCommand(list, "tickets", "list a user's issued tickets, newest first", DEFAULT_TICKET_LIST_LIMIT)
    .requiredOption("--user <user>", "whose tickets")
    .option("--party <party>", "only the tickets this party asked for")
    .action(async (flags: ListFlags) => {
      const user = assertName(flags.user, "user");
      const party = flags.party === undefined ? undefined : assertName(flags.party, "party");
      const tickets = await (await adminClient(flags)).listTickets(user, party, { limit: flags.limit });
      if (flags.json) printJson(tickets);
      else printTickets(tickets);
    });
}
