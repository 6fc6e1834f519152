import type { Command } from "commander";
import type { PartyInfo } from "../../protocol/api.ts";
import { assertName } from "../../protocol/names.ts";
import type { ApiClient } from "../api-client.ts";
import { adminClient } from "../api-client.ts";
import { type AdminOptions, commandGroup, withAdminOptions } from "../command-group.ts";
import { printJson } from "../output.ts";

/** Revocation is on the worker: no new tickets, and data planes drop the party at their next report. */
export function revokeParty(client: ApiClient, user: string, name: string): Promise<PartyInfo> {
  return client.revokeParty(assertName(user, "user"), assertName(name, "party"));
}

export function registerRevokeCommands(program: Command): void {
  const revoke = commandGroup(program, "revoke", "revoke a party");
  withAdminOptions(
    revoke
      .command("party")
      .description("revoke a party: it gets no tickets and data planes refuse it")
      .requiredOption("--name <party>", "party name")
      .requiredOption("--user <user>", "the user it belongs to")
      .option("--json", "print the revoked party as JSON"),
  ).action(async (flags: AdminOptions & { name: string; user: string; json?: boolean }) => {
    const party = await revokeParty(await adminClient(flags), flags.user, flags.name);
    if (flags.json) printJson(party);
    else process.stdout.write(`Revoked party ${party.user}/${party.name} at ${party.revokedAt ?? "now"}.\n`);
  });
}
