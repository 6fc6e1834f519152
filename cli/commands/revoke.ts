import type { Command } from "commander";
import type { PartyInfo, RelayInfo } from "../../protocol/api.ts";
import { assertName } from "../../protocol/names.ts";
import type { ApiClient } from "../api-client.ts";
import { adminClient } from "../api-client.ts";
import { type AdminOptions, commandGroup, withAdminOptions } from "../command-group.ts";
import { printJson } from "../output.ts";

/** Revocation is on the worker: no new tickets, and data planes drop the party at their next report. */
export function revokeParty(client: ApiClient, user: string, name: string): Promise<PartyInfo> {
  return client.revokeParty(assertName(user, "user"), assertName(name, "party"));
}

/** No new tickets name a revoked relay, its pairs move to another, and its load reports are refused. */
export function revokeRelay(client: ApiClient, name: string): Promise<RelayInfo> {
  return client.revokeRelay(assertName(name, "relay"));
}

export function registerRevokeCommands(program: Command): void {
  const revoke = commandGroup(program, "revoke");
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
  withAdminOptions(
    revoke
      .command("relay")
      .description("revoke a relay: it gets no new tickets and its load reports are refused")
      .requiredOption("--name <relay>", "relay name")
      .option("--json", "print the revoked relay as JSON"),
  ).action(async (flags: AdminOptions & { name: string; json?: boolean }) => {
    const relay = await revokeRelay(await adminClient(flags), flags.name);
    if (flags.json) printJson(relay);
    else process.stdout.write(`Revoked relay ${relay.name} at ${relay.revokedAt ?? "now"}.\n`);
  });
}
