import type { Command } from "commander";
import type { UserInfo } from "../../protocol/api.ts";
import { assertName } from "../../protocol/names.ts";
import type { ApiClient } from "../api-client.ts";
import { adminClient } from "../api-client.ts";
import { type AdminOptions, commandGroup, withAdminOptions } from "../command-group.ts";
import { printJson } from "../output.ts";

/** Deletes the user and its parties on the worker; local files under certs/<user>/ are left alone. */
export function deleteUser(client: ApiClient, name: string): Promise<UserInfo> {
  return client.deleteUser(assertName(name, "user"));
}

export function registerDeleteCommands(program: Command): void {
  const del = commandGroup(program, "delete");
  withAdminOptions(
    del
      .command("user")
      .description("delete a user and all its parties from the worker")
      .requiredOption("--name <user>", "user name")
      .option("--json", "print the deleted user as JSON"),
  ).action(async (flags: AdminOptions & { name: string; json?: boolean }) => {
    const user = await deleteUser(await adminClient(flags), flags.name);
    if (flags.json) return printJson(user);
    process.stdout.write(`Deleted user ${user.name} and its parties.\n`);
    process.stdout.write(
      `Local files in certs/${user.name}/ were kept; remove them when no function uses them.\n`,
    );
  });
}
