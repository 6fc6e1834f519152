import type { Command } from "commander";
import type { IssuedWskKey, WskKeyInfo } from "../../protocol/api.ts";
import { assertName } from "../../protocol/names.ts";
import { type ApiClient, adminClient } from "../api-client.ts";
import { type AdminOptions, defineCommand, withAdminOptions } from "../command-group.ts";
import { printJson, printTable } from "../output.ts";

export interface CreatedWskKey {
  uuid: string;
  /** `uuid:key`, the value for `wsk --auth` and the openwhisk client's `api_key`. */
  auth: string;
  /** The line that points the wsk CLI at this worker. */
  wskCommand: string;
}

/** Single quotes keep a shell from touching the value. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_:/.@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}

/** The worker shows the key once; only its hash is kept, so a lost key means creating another. */
export async function createWskKey(client: ApiClient, user: string): Promise<CreatedWskKey> {
  const path = `/v1/users/${encodeURIComponent(assertName(user, "user"))}/wsk-keys`;
  const issued = await client.request<IssuedWskKey>("POST", path);
  const auth = `${issued.uuid}:${issued.key}`;
  return {
    uuid: issued.uuid,
    auth,
    wskCommand: `wsk property set --apihost ${shellQuote(client.url)} --auth ${shellQuote(auth)}`,
  };
}

export async function listWskKeys(client: ApiClient, user: string): Promise<WskKeyInfo[]> {
  const path = `/v1/users/${encodeURIComponent(assertName(user, "user"))}/wsk-keys`;
  return (await client.request<{ items: WskKeyInfo[] }>("GET", path)).items;
}

export async function revokeWskKey(client: ApiClient, user: string, uuid: string): Promise<WskKeyInfo> {
  const path = `/v1/users/${encodeURIComponent(assertName(user, "user"))}/wsk-keys/${encodeURIComponent(uuid)}`;
  return (await client.request<{ item: WskKeyInfo }>("DELETE", path)).item;
}

export function registerWskKeyCommands(program: Command): void {
  defineCommand(program, { verb: "create", noun: "wsk-key", alias: ["wsk-key", "create"] }, (command) =>
    withAdminOptions(
      command
        .description("issue a key for a user's wsk calls (shown once)")
        .requiredOption("--user <user>", "user")
        .option("--json", "print {uuid, auth, wskCommand} as JSON"),
    ).action(async (flags: AdminOptions & { user: string; json?: boolean }) => {
      const created = await createWskKey(await adminClient(flags), flags.user);
      if (flags.json) {
        printJson(created);
        return;
      }
      process.stdout.write(`${created.auth}\n${created.wskCommand}\n`);
      process.stderr.write("This key is shown once; the worker keeps only its hash.\n");
    }),
  );

  defineCommand(program, { verb: "list", noun: "wsk-keys", alias: ["wsk-key", "list"] }, (command) =>
    withAdminOptions(
      command
        .description("list a user's wsk keys (uuids only)")
        .requiredOption("--user <user>", "user")
        .option("--json", "print a JSON array"),
    ).action(async (flags: AdminOptions & { user: string; json?: boolean }) => {
      const keys = await listWskKeys(await adminClient(flags), flags.user);
      if (flags.json) printJson(keys);
      else
        printTable(keys, [
          ["uuid", (k) => k.uuid],
          ["created", (k) => k.createdAt],
        ]);
    }),
  );

  defineCommand(program, { verb: "revoke", noun: "wsk-key", alias: ["wsk-key", "revoke"] }, (command) =>
    withAdminOptions(
      command
        .description("revoke a wsk key: calls with it get 401 at once")
        .requiredOption("--user <user>", "user")
        .requiredOption("--uuid <uuid>", "the key's uuid")
        .option("--json", "print the revoked key as JSON"),
    ).action(async (flags: AdminOptions & { user: string; uuid: string; json?: boolean }) => {
      const revoked = await revokeWskKey(await adminClient(flags), flags.user, flags.uuid);
      if (flags.json) printJson(revoked);
      else process.stdout.write(`Revoked wsk key ${revoked.uuid} of ${revoked.user}.\n`);
    }),
  );
}
