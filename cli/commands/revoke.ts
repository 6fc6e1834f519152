import type { Command } from "commander";
import type { PartyInfo, RelayInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { assertName } from "../../protocol/names.ts";
import type { ApiClient } from "../api-client.ts";
import { adminClient } from "../api-client.ts";
import { type PublishedRevocations, publishRevocations } from "../certs/revocation-list.ts";
import { type AdminOptions, commandGroup, withAdminOptions } from "../command-group.ts";
import { printJson, UserError } from "../output.ts";

export interface RevokedParty {
  party: PartyInfo;
  published: PublishedRevocations;
}

/**
 * Revokes at the worker first (no tickets to or from the party; data planes drop it at their
 * next report), then publishes the user's signed revocation list, which the SDK checks in
 * every mode, so even a relay holding the party's keys cannot get it accepted.
 */
export async function revokeParty(
  client: ApiClient,
  user: string,
  name: string,
  certsDir?: string,
): Promise<RevokedParty> {
  const party = await client.revokeParty(assertName(user, "user"), assertName(name, "party"));
  try {
    return { party, published: await publishRevocations(client, party.user, certsDir) };
  } catch (error) {
    const why = error instanceof FlockError ? `${error.message} (${error.code})` : (error as Error).message;
    throw new UserError(
      `Party ${party.user}/${party.name} is revoked at the worker, but its revocation list is not published: ${why}`,
    );
  }
}

function printPublished({ list, replacedForeignList }: PublishedRevocations): void {
  if (replacedForeignList) {
    process.stderr.write(
      `warning: the revocation list the worker held for ${list.user} was not signed by certs/${list.user}/user-ca.pem; it was replaced, keeping only the parties the worker lists as revoked.\n`,
    );
  }
  const names = list.parties.length === 0 ? "no parties" : list.parties.join(", ");
  process.stdout.write(`Published the revocation list of ${list.user}, version ${list.seq}: ${names}.\n`);
}

/** No new tickets name a revoked relay, its pairs move to another, and its load reports are refused. */
export function revokeRelay(client: ApiClient, name: string): Promise<RelayInfo> {
  return client.revokeRelay(assertName(name, "relay"));
}

export function registerRevokeCommands(program: Command): void {
  withAdminOptions(
    commandGroup(program, "publish")
      .command("revocations")
      .description(
        "sign the user's revocation list with certs/<user>/user-ca-key.pem and publish it (what `revoke party` does after revoking)",
      )
      .requiredOption("--user <user>", "whose list")
      .option("--json", "print the published list's claims as JSON"),
  ).action(async (flags: AdminOptions & { user: string; json?: boolean }) => {
    const published = await publishRevocations(await adminClient(flags), assertName(flags.user, "user"));
    if (flags.json) printJson(published.list);
    else printPublished(published);
  });

  const revoke = commandGroup(program, "revoke");
  withAdminOptions(
    revoke
      .command("party")
      .description(
        "revoke a party: it gets no tickets, data planes refuse it, and the user's signed revocation list (certs/<user>/user-ca-key.pem) names it",
      )
      .requiredOption("--name <party>", "party name")
      .requiredOption("--user <user>", "the user it belongs to")
      .option("--json", "print the revoked party as JSON"),
  ).action(async (flags: AdminOptions & { name: string; user: string; json?: boolean }) => {
    const { party, published } = await revokeParty(await adminClient(flags), flags.user, flags.name);
    if (flags.json) return printJson(party);
    process.stdout.write(`Revoked party ${party.user}/${party.name} at ${party.revokedAt ?? "now"}.\n`);
    printPublished(published);
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
