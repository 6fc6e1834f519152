import { readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { assertName } from "../../protocol/names.ts";
import { loadKey } from "../certs/keys.ts";
import type { PemFile } from "../certs/layout.ts";
import {
  certsRoot,
  fileExists,
  partyPaths,
  readCertificateFile,
  readPrivateKeyFile,
  relayCaPath,
  shownPath,
  userPaths,
  writePemFiles,
} from "../certs/layout.ts";
import { signPartyCertificate } from "../certs/user-ca.ts";
import { printJson, UserError } from "../output.ts";

/** File layouts `flock export` writes; `frelay` is the original Flock relay's (docs/coming-from-frelay.md). */
export const LAYOUTS = ["frelay"] as const;
export type Layout = (typeof LAYOUTS)[number];

export interface ExportOptions {
  user: string;
  /** One party; every party of the user found under certs/ when absent. */
  party?: string;
  /** Where Flock's files are; defaults to certs/ under the working directory. */
  certsDir?: string;
  /** Where the layout is written; defaults to the same certs/ (the layouts do not collide). */
  outDir?: string;
  /** Re-sign end-to-end certificates that lack the DNS SAN the original Go client checks. */
  resign?: boolean;
}

export interface Exported {
  files: string[];
  /** Parties whose end-to-end certificate lacks its DNS SAN (not re-signed). */
  lacksName: string[];
}

async function partiesOf(root: string, user: string): Promise<string[]> {
  const dir = userPaths(root, user).dir;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const parties: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && (await fileExists(partyPaths(root, user, entry.name).relayCert))) {
      parties.push(entry.name);
    }
  }
  return parties.sort();
}

/**
 * The original relay's file layout, from the files `flock create` wrote: the relay CA as
 * `frelay-ca.pem` and `flockrelay-ca.pem`, each party's relay certificate and key as
 * `<party>/{cert,key}.pem`, the user CA as `<user>/user-ca.pem` and each party's end-to-end
 * certificate and key as `<user>/<party>/{cert,key}.pem`. Flock's own files stay as they are.
 */
export async function exportFrelayLayout(options: ExportOptions): Promise<Exported> {
  const root = options.certsDir ?? certsRoot();
  const out = options.outDir ?? root;
  const user = assertName(options.user, "user");
  const owner = userPaths(root, user);
  const parties =
    options.party === undefined ? await partiesOf(root, user) : [assertName(options.party, "party")];
  if (parties.length === 0) {
    throw new UserError(
      `No parties of ${user} under ${shownPath(root)}; create one with \`flock create party\`.`,
    );
  }
  const howToCreate = (party: string) =>
    `create the party with \`flock create party --user ${user} --name ${party}\`.`;
  // Every file is parsed before any is written, so a corrupt one fails here, by name, and not
  // later inside the original relay's clients.
  const relayCa = (await readCertificateFile(relayCaPath(root), howToCreate(parties[0] ?? ""))).pem;
  const userCa = (await readCertificateFile(owner.caCert, howToCreate(parties[0] ?? ""))).pem;
  const files: PemFile[] = [
    { path: join(out, "frelay-ca.pem"), pem: relayCa, secret: false },
    { path: join(out, "flockrelay-ca.pem"), pem: relayCa, secret: false },
    { path: join(out, user, "user-ca.pem"), pem: userCa, secret: false },
  ];
  const lacksName: string[] = [];
  for (const party of parties) {
    const paths = partyPaths(root, user, party);
    const partyKey = await readPrivateKeyFile(paths.partyKey, howToCreate(party));
    const endToEnd = await readCertificateFile(paths.partyCert, howToCreate(party));
    let partyCert = endToEnd.pem;
    if (endToEnd.cert.checkHost(party, { subject: "never" }) === undefined) {
      if (options.resign) {
        const caKey = await loadKey(await readPrivateKeyFile(owner.caKey, howToCreate(party)), owner.caKey);
        partyCert = await signPartyCertificate(
          userCa,
          caKey,
          await loadKey(partyKey, paths.partyKey),
          user,
          party,
        );
        files.push({ path: paths.partyCert, pem: partyCert, secret: false });
      } else {
        lacksName.push(party);
      }
    }
    files.push(
      {
        path: join(out, party, "cert.pem"),
        pem: (await readCertificateFile(paths.relayCert, howToCreate(party))).pem,
        secret: false,
      },
      {
        path: join(out, party, "key.pem"),
        pem: await readPrivateKeyFile(paths.relayKey, howToCreate(party)),
        secret: true,
      },
      { path: join(out, user, party, "cert.pem"), pem: partyCert, secret: false },
      { path: join(out, user, party, "key.pem"), pem: partyKey, secret: true },
    );
  }
  await writePemFiles(files);
  return { files: files.map((f) => f.path), lacksName };
}

function layoutOption(value: string): Layout {
  if (!(LAYOUTS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`expected one of ${LAYOUTS.join(", ")}.`);
  }
  return value as Layout;
}

interface ExportFlags {
  layout: Layout;
  user: string;
  party?: string;
  out?: string;
  resign?: boolean;
  json?: boolean;
}

export function registerExportCommand(program: Command): void {
  program
    .command("export")
    .description("write a user's certificates and keys in another tool's file layout (contains private keys)")
    .requiredOption("--layout <layout>", `file layout: ${LAYOUTS.join(", ")}`, layoutOption)
    .requiredOption("--user <user>", "the user whose parties are exported")
    .option("--party <party>", "only this party (default: every party of the user in certs/)")
    .option("--out <dir>", "where to write (default: certs/)")
    .option("--resign", "re-sign end-to-end certificates made before they carried the party name as DNS SAN")
    .option("--json", "print the files written as JSON")
    .action(async (flags: ExportFlags) => {
      const exported = await exportFrelayLayout({
        user: flags.user,
        ...(flags.party === undefined ? {} : { party: flags.party }),
        ...(flags.out === undefined ? {} : { outDir: flags.out }),
        resign: flags.resign === true,
      });
      if (flags.json) {
        printJson(exported);
        return;
      }
      for (const file of exported.files) process.stdout.write(`  wrote ${relative(process.cwd(), file)}\n`);
      for (const party of exported.lacksName) {
        process.stderr.write(
          `warning: ${flags.user}/${party}'s end-to-end certificate does not name ${party}; the original Go client refuses it as its peer. Pass --resign to re-sign it.\n`,
        );
      }
    });
}
