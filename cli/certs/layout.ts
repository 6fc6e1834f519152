import { createPrivateKey, X509Certificate } from "node:crypto";
import { access, chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { FlockError } from "../../protocol/errors.ts";
import { assertName } from "../../protocol/names.ts";
import { UserError } from "../output.ts";

/**
 * Where certificates and keys live under the working directory (contract.md "Files").
 * Relays sit under `_relays/`: names cannot start with `_`, so no user can collide with it.
 */
export const CERTS_DIR_NAME = "certs";
export const RELAYS_DIR_NAME = "_relays";
export const SECRET_FILE_MODE = 0o600;
export const CERT_FILE_MODE = 0o644;
export const PRIVATE_DIR_MODE = 0o700;

export function certsRoot(cwd: string = process.cwd()): string {
  return join(cwd, CERTS_DIR_NAME);
}

export function relayCaPath(root: string): string {
  return join(root, "flockrelay-ca.pem");
}

export function userPaths(root: string, user: string) {
  const dir = join(root, assertName(user, "user"));
  return { dir, caCert: join(dir, "user-ca.pem"), caKey: join(dir, "user-ca-key.pem") };
}

export function partyPaths(root: string, user: string, party: string) {
  const dir = join(userPaths(root, user).dir, assertName(party, "party"));
  return {
    dir,
    relayCert: join(dir, "relay-cert.pem"),
    relayKey: join(dir, "relay-key.pem"),
    partyCert: join(dir, "party-cert.pem"),
    partyKey: join(dir, "party-key.pem"),
  };
}

export function relayPaths(root: string, relay: string) {
  const dir = join(root, RELAYS_DIR_NAME, assertName(relay, "relay"));
  return { dir, cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
}

export interface PemFile {
  path: string;
  pem: string;
  /** Private keys: mode 0600 in a 0700 directory. */
  secret: boolean;
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** A path as the user would type it from the working directory. */
export function shownPath(path: string): string {
  return relative(process.cwd(), path) || path;
}

/** Refuses, before anything is written or sent, when one of `paths` exists and `force` is not set. */
export async function assertNoOverwrite(paths: string[], force: boolean): Promise<void> {
  if (force) return;
  for (const path of paths) {
    if (await fileExists(path)) {
      throw new UserError(`${shownPath(path)} already exists; pass --force to replace it.`);
    }
  }
}

/** Writes PEM files; keys get mode 0600 even when they replace an older file. */
export async function writePemFiles(files: PemFile[]): Promise<void> {
  for (const file of files) {
    await mkdir(dirname(file.path), { recursive: true, mode: PRIVATE_DIR_MODE });
    const mode = file.secret ? SECRET_FILE_MODE : CERT_FILE_MODE;
    await writeFile(file.path, file.pem.endsWith("\n") ? file.pem : `${file.pem}\n`, { mode });
    await chmod(file.path, mode);
  }
}

/** Reads a PEM file the CLI wrote earlier; a missing one is a user error that says how to make it. */
export async function readPemFile(path: string, howToCreate: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new UserError(`${shownPath(path)} not found; ${howToCreate}`);
    }
    throw error;
  }
}

/**
 * readPemFile for a certificate that must parse: a corrupt file is CONFIG_INVALID naming it,
 * not the X.509 library's own error.
 */
export async function readCertificateFile(
  path: string,
  howToCreate: string,
): Promise<{ pem: string; cert: X509Certificate }> {
  const pem = await readPemFile(path, howToCreate);
  try {
    return { pem, cert: new X509Certificate(pem) };
  } catch (error) {
    throw new FlockError("CONFIG_INVALID", `${shownPath(path)} is not a PEM certificate.`, { cause: error });
  }
}

/** readPemFile for a private key that must parse, refused as readCertificateFile refuses. */
export async function readPrivateKeyFile(path: string, howToCreate: string): Promise<string> {
  const pem = await readPemFile(path, howToCreate);
  try {
    createPrivateKey(pem);
  } catch (error) {
    throw new FlockError("CONFIG_INVALID", `${shownPath(path)} is not a PEM private key.`, { cause: error });
  }
  return pem;
}
