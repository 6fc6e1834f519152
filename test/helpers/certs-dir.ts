import "reflect-metadata";
import { X509Certificate } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import {
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { generateKey } from "../../cli/certs/keys.ts";
import type { PemFile } from "../../cli/certs/layout.ts";
import { partyPaths, relayCaPath, userPaths, writePemFiles } from "../../cli/certs/layout.ts";
import { createUserCa, signPartyCertificate } from "../../cli/certs/user-ca.ts";
import { partyUri } from "../../protocol/names.ts";

/**
 * `dir/certs` as `flock create` leaves it for user u with parties "new" and "old", made here
 * with no worker: the relay certificates come from a stand-in relay CA. Party "old" has an
 * end-to-end certificate from before the DNS SAN.
 */
export async function makeCertsDir(dir: string): Promise<string> {
  const root = join(dir, "certs");
  const caKey = await generateKey("ec");
  const caPem = await createUserCa(caKey, "u");
  const relayCaKey = await generateKey("ec");
  const relayCaPem = await createUserCa(relayCaKey, "relays");
  const files: PemFile[] = [
    { path: relayCaPath(root), pem: relayCaPem, secret: false },
    { path: userPaths(root, "u").caCert, pem: caPem, secret: false },
    { path: userPaths(root, "u").caKey, pem: caKey.privateKeyPem, secret: true },
  ];
  for (const party of ["new", "old"]) {
    const key = await generateKey("ec");
    const paths = partyPaths(root, "u", party);
    const cert =
      party === "new"
        ? await signPartyCertificate(caPem, caKey, key, "u", party)
        : (
            await X509CertificateGenerator.create({
              subject: `CN=${party}, O=u`,
              issuer: new X509Certificate(caPem).subject.replace(/\n/g, ", "),
              notBefore: new Date(Date.now() - 60_000),
              notAfter: new Date(Date.now() + 86_400_000),
              publicKey: key.keys.publicKey,
              signingKey: caKey.keys.privateKey,
              signingAlgorithm: caKey.signingAlgorithm,
              extensions: [
                new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
                new SubjectAlternativeNameExtension([{ type: "url", value: partyUri("u", party) }]),
              ],
            })
          ).toString("pem");
    const relayKey = await generateKey("ec");
    files.push(
      {
        path: paths.relayCert,
        pem: await signPartyCertificate(relayCaPem, relayCaKey, relayKey, "u", party),
        secret: false,
      },
      { path: paths.relayKey, pem: relayKey.privateKeyPem, secret: true },
      { path: paths.partyCert, pem: cert, secret: false },
      { path: paths.partyKey, pem: key.privateKeyPem, secret: true },
    );
  }
  await writePemFiles(files);
  return root;
}

/** Each file a party's identity is read from, by what it holds: for tests that corrupt one. */
export const CORRUPTIBLE_FILES = [
  ["the relay CA", (root: string) => relayCaPath(root), "certificate"],
  ["the user CA", (root: string) => userPaths(root, "u").caCert, "certificate"],
  ["a relay certificate", (root: string) => partyPaths(root, "u", "new").relayCert, "certificate"],
  ["a relay key", (root: string) => partyPaths(root, "u", "new").relayKey, "private key"],
  ["an end-to-end certificate", (root: string) => partyPaths(root, "u", "new").partyCert, "certificate"],
  ["an end-to-end key", (root: string) => partyPaths(root, "u", "new").partyKey, "private key"],
] as const;

/** PEM armour around bytes that are no DER. */
const CORRUPT_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n";

/**
 * makeCertsDir with one of CORRUPTIBLE_FILES (`pathOf`, holding a `kind`) overwritten by PEM that
 * does not parse, and the refusal any reader of it gives: CONFIG_INVALID naming the file.
 */
export async function makeCorruptCertsDir(
  dir: string,
  pathOf: (root: string) => string,
  kind: string,
): Promise<{ root: string; refusal: { code: "CONFIG_INVALID"; message: string } }> {
  const root = await makeCertsDir(dir);
  const path = pathOf(root);
  await writeFile(path, CORRUPT_PEM);
  return {
    root,
    refusal: { code: "CONFIG_INVALID", message: `${relative(process.cwd(), path)} is not a PEM ${kind}.` },
  };
}
