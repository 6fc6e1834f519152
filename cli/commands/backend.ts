import { type Command, Option } from "commander";
import {
  type BackendInfo,
  type BackendInput,
  ROUTING_POLICIES,
  type RoutingPolicy,
  type RoutingPolicyInfo,
} from "../../protocol/api.ts";
import { assertName } from "../../protocol/names.ts";
import { type ApiClient, adminClient } from "../api-client.ts";
import { type AdminOptions, defineCommand, withAdminOptions } from "../command-group.ts";
import { EXIT_USAGE, printJson, printTable, UserError } from "../output.ts";

export const SHARED_BACKEND_WARNING =
  "warning: shared backend: every user's calls reach this backend's namespace; their actions and activations are visible to each other.";

/** The worker seals `auth` with AES-GCM on arrival; it is never shown again, by the worker or by this CLI. */
export async function addBackend(client: ApiClient, input: BackendInput): Promise<BackendInfo> {
  return (await client.request<{ item: BackendInfo }>("POST", "/v1/backends", input)).item;
}

export function listBackends(client: ApiClient): Promise<BackendInfo[]> {
  return client.listAll<BackendInfo>("/v1/backends");
}

export async function removeBackend(client: ApiClient, name: string): Promise<BackendInfo> {
  const path = `/v1/backends/${encodeURIComponent(assertName(name, "backend"))}`;
  return (await client.request<{ item: BackendInfo }>("DELETE", path)).item;
}

export async function setBackendPolicy(
  client: ApiClient,
  user: string,
  policy: RoutingPolicy,
): Promise<RoutingPolicyInfo> {
  const path = `/v1/users/${encodeURIComponent(assertName(user, "user"))}/backend-policy`;
  return (await client.request<{ item: RoutingPolicyInfo }>("PUT", path, { policy })).item;
}

export function printBackends(backends: BackendInfo[]): void {
  printTable(backends, [
    ["name", (b) => b.name],
    ["apihost", (b) => b.apihost],
    ["user", (b) => (b.shared ? "SHARED (every user)" : (b.user ?? "-"))],
    ["latency", (b) => (b.latencyMs === undefined ? "-" : `${b.latencyMs} ms`)],
    ["state", (b) => (b.backoffUntil ? `backing off until ${b.backoffUntil}` : "ok")],
  ]);
}

const policyOption = () =>
  new Option("--policy <policy>", "routing policy of the user's calls").choices([...ROUTING_POLICIES]);

export function registerBackendCommands(program: Command): void {
  defineCommand(program, { verb: "add", noun: "backend", alias: ["backend", "add"] }, (command) =>
    withAdminOptions(
      command
        .description("register an OpenWhisk API host; its credentials are stored encrypted")
        .requiredOption("--name <name>", "backend name")
        .requiredOption("--apihost <url>", "the deployment's API host, e.g. https://openwhisk.example.com")
        .requiredOption("--auth <uuid:key>", "the deployment's credentials for this user's namespace")
        .option("--user <user>", "the one user it serves")
        .addOption(
          new Option("--shared", "serve every user; they see each other's actions and activations").conflicts(
            "user",
          ),
        )
        .addOption(policyOption())
        .option("--allow-private-address", "allow an apihost on a loopback, link-local or private address")
        .option("--json", "print the backend as JSON"),
    ).action(async (flags: AdminOptions & BackendInput & { json?: boolean }) => {
      if (flags.user === undefined && !flags.shared) {
        throw new UserError("give --user <user>, or --shared to serve every user", EXIT_USAGE);
      }
      const input: BackendInput = { name: flags.name, apihost: flags.apihost, auth: flags.auth };
      if (flags.user !== undefined) input.user = flags.user;
      if (flags.shared) input.shared = true;
      if (flags.policy !== undefined) input.policy = flags.policy;
      if (flags.allowPrivateAddress) input.allowPrivateAddress = true;
      const added = await addBackend(await adminClient(flags), input);
      if (added.shared) process.stderr.write(`${SHARED_BACKEND_WARNING}\n`);
      if (flags.json) printJson(added);
      else
        process.stdout.write(
          `Added backend ${added.name} (${added.apihost}) for ${added.shared ? "every user (shared)" : added.user}.\n`,
        );
    }),
  );

  defineCommand(program, { verb: "list", noun: "backends", alias: ["backend", "list"] }, (command) =>
    withAdminOptions(
      command
        .description("list OpenWhisk backends (never their credentials)")
        .option("--json", "print a JSON array"),
    ).action(async (flags: AdminOptions & { json?: boolean }) => {
      const backends = await listBackends(await adminClient(flags));
      if (flags.json) printJson(backends);
      else printBackends(backends);
    }),
  );

  defineCommand(program, { verb: "remove", noun: "backend", alias: ["backend", "remove"] }, (command) =>
    withAdminOptions(
      command
        .description("remove a backend; activations it holds are forgotten")
        .requiredOption("--name <name>", "backend name")
        .option("--json", "print the removed backend as JSON"),
    ).action(async (flags: AdminOptions & { name: string; json?: boolean }) => {
      const removed = await removeBackend(await adminClient(flags), flags.name);
      if (flags.json) printJson(removed);
      else process.stdout.write(`Removed backend ${removed.name}.\n`);
    }),
  );

  defineCommand(program, { verb: "set", noun: "backend-policy", alias: ["backend", "policy"] }, (command) =>
    withAdminOptions(
      command
        .description("choose how a user's calls are spread over their backends")
        .requiredOption("--user <user>", "user")
        .addOption(policyOption().makeOptionMandatory())
        .option("--json", "print the policy as JSON"),
    ).action(async (flags: AdminOptions & { user: string; policy: RoutingPolicy; json?: boolean }) => {
      const set = await setBackendPolicy(await adminClient(flags), flags.user, flags.policy);
      if (flags.json) printJson(set);
      else process.stdout.write(`Routing policy of ${set.user} is now ${set.policy}.\n`);
    }),
  );
}
