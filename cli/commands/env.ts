import type { Command } from "commander";
import type { IdentityMaterials, PartyConfig } from "../../client/identity.ts";
import {
  BUNDLE_ENV,
  createIdentity,
  encodeIdentityBundle,
  IDENTITY_ENV,
  loadIdentity,
} from "../../client/identity.ts";
import { assertName } from "../../protocol/names.ts";
import { adminClient } from "../api-client.ts";
import {
  certsRoot,
  partyPaths,
  readCertificateFile,
  readPrivateKeyFile,
  relayCaPath,
  userPaths,
} from "../certs/layout.ts";
import { resolveWorkerUrl } from "../config.ts";
import { printJson, UserError } from "../output.ts";
import { relayAddress } from "../relay-address.ts";

export interface PartyFiles {
  user: string;
  party: string;
  dest?: string;
  /** Worker URL; default from --url, FLOCK_URL or .flock/config.json. */
  url?: string;
  /** The `certs/` directory; defaults to `certs/` under the working directory. */
  certsDir?: string;
}

/**
 * The identity of a party as `flock create party` left it in certs/, checked the same way
 * a function checks its environment, so a broken file fails here and not in production; one
 * that does not parse is named by its path.
 */
export async function readPartyConfig(files: PartyFiles): Promise<PartyConfig> {
  const root = files.certsDir ?? certsRoot();
  const user = assertName(files.user, "user");
  const party = assertName(files.party, "party");
  const paths = partyPaths(root, user, party);
  const howToCreate = `create the party with \`flock create party --user ${user} --name ${party}\`.`;
  const materials: IdentityMaterials = {
    url: files.url ?? (await resolveWorkerUrl()),
    relayCa: (await readCertificateFile(relayCaPath(root), howToCreate)).pem,
    relayCert: (await readCertificateFile(paths.relayCert, howToCreate)).pem,
    relayKey: await readPrivateKeyFile(paths.relayKey, howToCreate),
    userCa: (await readCertificateFile(userPaths(root, user).caCert, howToCreate)).pem,
    partyCert: (await readCertificateFile(paths.partyCert, howToCreate)).pem,
    partyKey: await readPrivateKeyFile(paths.partyKey, howToCreate),
    ...(files.dest ? { dest: assertName(files.dest, "destination party") } : {}),
  };
  return createIdentity(materials);
}

export interface IdentityFlags {
  user?: string;
  party?: string;
  url?: string;
}

/**
 * Party commands run where a function runs (identity in the environment) or where the
 * admin made the party (certs/ and --user/--party). Flags win: they are the explicit choice.
 */
export async function identityFromFlagsOrEnv(
  flags: IdentityFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PartyConfig> {
  if (flags.user || flags.party) {
    if (!flags.user || !flags.party) throw new UserError("Pass both --user and --party, or neither.");
    return readPartyConfig({
      user: flags.user,
      party: flags.party,
      url: flags.url ?? (await resolveWorkerUrl()),
    });
  }
  if (env[BUNDLE_ENV] || env[IDENTITY_ENV.partyCert]) {
    const identity = loadIdentity(env);
    return flags.url ? { ...identity, url: flags.url } : identity;
  }
  throw new UserError(
    `No party identity: set ${BUNDLE_ENV} (from \`flock env --bundle\`) or pass --user and --party to use certs/.`,
  );
}

/** The variables a function needs, by name, in a stable order. */
export function identityVariables(materials: IdentityMaterials, bundle: boolean): Record<string, string> {
  if (bundle) return { [BUNDLE_ENV]: encodeIdentityBundle(materials) };
  const out: Record<string, string> = {};
  for (const [field, name] of Object.entries(IDENTITY_ENV) as Array<[keyof IdentityMaterials, string]>) {
    const value = materials[field];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** POSIX shell single quotes: everything literal, a quote written as '\''. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

interface EnvFlags {
  user: string;
  party: string;
  dest?: string;
  url?: string;
  relay?: string | true;
  bundle?: boolean;
  json?: boolean;
}

export function registerEnvCommand(program: Command): void {
  program
    .command("env")
    .description("print the environment a function needs to act as a party (contains its private keys)")
    .requiredOption("--user <user>", "the party's user")
    .requiredOption("--party <party>", "the party")
    .option("--dest <party>", "default peer (DEST)")
    .option("--url <url>", "worker URL (default: $FLOCK_URL or .flock/config.json)")
    .option(
      "--relay [relay]",
      "also RELAY=host:port for direct mode: a relay name, host:port, or (no value) the live relay picked for the pair with --dest",
    )
    .option("--bundle", `one variable, ${BUNDLE_ENV}, instead of one per file`)
    .option("--json", "print the variables as a JSON object")
    .action(async (flags: EnvFlags) => {
      const identity = await readPartyConfig(flags);
      const { user: _user, party: _party, ...materials } = identity;
      const variables = identityVariables(materials, Boolean(flags.bundle));
      if (flags.relay !== undefined) {
        variables.RELAY = await relayAddress(flags.relay, identity, () => adminClient({ url: flags.url }));
      }
      if (flags.json) {
        printJson(variables);
        return;
      }
      for (const [name, value] of Object.entries(variables))
        process.stdout.write(`${name}=${shellQuote(value)}\n`);
    });
}
