import { relative } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import type { PartyInfo, RelayInfo, UserInfo } from "../../protocol/api.ts";
import { assertName } from "../../protocol/names.ts";
import { DEFAULT_RELAY_PORT } from "../../protocol/wire.ts";
import { type ApiClient, adminClient } from "../api-client.ts";
import { partyCsr, relayCsr } from "../certs/csr.ts";
import { generateKey, KEY_TYPES, type KeyType, loadKey } from "../certs/keys.ts";
import {
  assertNoOverwrite,
  certsRoot,
  type PemFile,
  partyPaths,
  readPemFile,
  relayCaPath,
  relayPaths,
  userPaths,
  writePemFiles,
} from "../certs/layout.ts";
import { createUserCa, signPartyCertificate } from "../certs/user-ca.ts";
import { type AdminOptions, collect, commandGroup, integerIn, withAdminOptions } from "../command-group.ts";
import { printJson, progress, UserError } from "../output.ts";

export interface CreateContext {
  client: ApiClient;
  /** The `certs/` directory; defaults to `certs/` under the working directory. */
  certsDir?: string;
  /** Replace existing local key files instead of refusing. */
  force?: boolean;
}

export interface Created<T> {
  item: T;
  /** Files written, in the order written. */
  files: string[];
}

/**
 * Registers the user with the worker, then makes its user CA locally. The CA key never
 * leaves this machine: the worker only learns the name.
 */
export async function createUser(ctx: CreateContext, name: string): Promise<Created<UserInfo>> {
  const paths = userPaths(ctx.certsDir ?? certsRoot(), assertName(name, "user"));
  await assertNoOverwrite([paths.caKey, paths.caCert], Boolean(ctx.force));
  const caKey = await generateKey("ec");
  const caCert = await createUserCa(caKey, name);
  const item = await ctx.client.createUser(name);
  const files: PemFile[] = [
    { path: paths.caKey, pem: caKey.privateKeyPem, secret: true },
    { path: paths.caCert, pem: caCert, secret: false },
  ];
  await writePemFiles(files);
  return { item, files: files.map((f) => f.path) };
}

/**
 * A party gets two key pairs, both made here: the relay key (its certificate is signed by
 * the worker from a CSR) and the party key (its certificate is signed by the local user CA).
 * Everything is made before the worker is asked, and nothing is written unless it agrees.
 */
export async function createParty(
  ctx: CreateContext,
  user: string,
  name: string,
  keyType: KeyType = "ec",
): Promise<Created<PartyInfo>> {
  const root = ctx.certsDir ?? certsRoot();
  const owner = userPaths(root, assertName(user, "user"));
  const paths = partyPaths(root, user, assertName(name, "party"));
  await assertNoOverwrite(
    [paths.relayKey, paths.relayCert, paths.partyKey, paths.partyCert],
    Boolean(ctx.force),
  );
  const howToCreateUser = `create the user here with \`flock create user --name ${user}\` or copy its certs/${user}/ from where it was created.`;
  const caCert = await readPemFile(owner.caCert, howToCreateUser);
  const caKey = await loadKey(await readPemFile(owner.caKey, howToCreateUser), owner.caKey);

  const relayKey = await generateKey(keyType);
  const partyKey = await generateKey(keyType);
  const partyCert = await signPartyCertificate(caCert, caKey, partyKey, user, name);
  const issued = await ctx.client.createParty(user, name, await partyCsr(relayKey, user, name));

  const files: PemFile[] = [
    { path: relayCaPath(root), pem: issued.relayCa, secret: false },
    { path: paths.relayKey, pem: relayKey.privateKeyPem, secret: true },
    { path: paths.relayCert, pem: issued.certificate, secret: false },
    { path: paths.partyKey, pem: partyKey.privateKeyPem, secret: true },
    { path: paths.partyCert, pem: partyCert, secret: false },
  ];
  await writePemFiles(files);
  return { item: issued.item, files: files.map((f) => f.path) };
}

export interface RelaySpec {
  name: string;
  hosts: string[];
  port?: number;
  keyType?: KeyType;
}

/** Registers a data plane: its server key is made here, the worker signs its certificate. */
export async function createRelay(ctx: CreateContext, spec: RelaySpec): Promise<Created<RelayInfo>> {
  const root = ctx.certsDir ?? certsRoot();
  const paths = relayPaths(root, assertName(spec.name, "relay"));
  if (spec.hosts.length === 0) throw new UserError("A relay needs at least one --host.");
  await assertNoOverwrite([paths.key, paths.cert], Boolean(ctx.force));
  const key = await generateKey(spec.keyType ?? "ec");
  const csr = await relayCsr(key, spec.name, spec.hosts);
  const issued = await ctx.client.createRelay(spec.name, spec.hosts, spec.port ?? DEFAULT_RELAY_PORT, csr);
  const files: PemFile[] = [
    { path: relayCaPath(root), pem: issued.relayCa, secret: false },
    { path: paths.key, pem: key.privateKeyPem, secret: true },
    { path: paths.cert, pem: issued.certificate, secret: false },
  ];
  await writePemFiles(files);
  return { item: issued.item, files: files.map((f) => f.path) };
}

interface CreateFlags extends AdminOptions {
  force?: boolean;
  json?: boolean;
  keyType: KeyType;
}

/** A bad --key-type is a usage error (exit 2), like any other malformed option. */
function keyTypeOption(value: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw new InvalidArgumentError(`expected one of ${KEY_TYPES.join(", ")}.`);
}

async function contextFrom(flags: CreateFlags): Promise<CreateContext> {
  return { client: await adminClient(flags), force: flags.force };
}

function printCreated(what: string, created: Created<unknown>, json: boolean | undefined): void {
  if (json) {
    printJson(created);
    return;
  }
  process.stdout.write(`Created ${what}.\n`);
  for (const file of created.files) process.stdout.write(`  wrote ${relative(process.cwd(), file)}\n`);
}

export function registerCreateCommands(program: Command): void {
  const create = commandGroup(program, "create");

  withAdminOptions(
    create
      .command("user")
      .description("register a user and make its user CA locally (certs/<user>/user-ca*.pem, never uploaded)")
      .requiredOption("--name <user>", "user name")
      .option("--force", "replace an existing local user CA")
      .option("--json", "print the result as JSON"),
  ).action(async (flags: CreateFlags & { name: string }) => {
    const created = await createUser(await contextFrom(flags), flags.name);
    printCreated(`user ${flags.name}`, created, flags.json);
  });

  withAdminOptions(
    create
      .command("party")
      .description(
        "register a party: relay key + certificate from the worker, party certificate from the user CA",
      )
      .requiredOption("--name <party>", "party name")
      .requiredOption("--user <user>", "the user it belongs to")
      .option("--key-type <type>", "ec (P-256) or rsa (2048 bits)", keyTypeOption, "ec" as KeyType)
      .option("--force", "replace existing local keys")
      .option("--json", "print the result as JSON"),
  ).action(async (flags: CreateFlags & { name: string; user: string }) => {
    if (flags.keyType === "rsa") progress("generating RSA keys");
    const created = await createParty(await contextFrom(flags), flags.user, flags.name, flags.keyType);
    printCreated(`party ${flags.user}/${flags.name}`, created, flags.json);
  });

  withAdminOptions(
    create
      .command("relay")
      .description("register a data plane and get its server certificate (certs/_relays/<name>/)")
      .requiredOption("--name <relay>", "relay name")
      .requiredOption("--host <host>", "DNS name or IP address parties dial (repeat for several)", collect)
      .option("--port <port>", "port the data plane listens on", integerIn(1, 65535), DEFAULT_RELAY_PORT)
      .option("--key-type <type>", "ec (P-256) or rsa (2048 bits)", keyTypeOption, "ec" as KeyType)
      .option("--force", "replace an existing local key")
      .option("--json", "print the result as JSON"),
  ).action(async (flags: CreateFlags & { name: string; host: string[]; port: number }) => {
    const spec = {
      name: flags.name,
      hosts: flags.host,
      port: flags.port,
      keyType: flags.keyType,
    };
    const created = await createRelay(await contextFrom(flags), spec);
    printCreated(`relay ${flags.name} (${flags.host.join(",")}:${flags.port})`, created, flags.json);
  });
}
