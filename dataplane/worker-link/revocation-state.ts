import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * The last revocation list the worker sent, kept on disk so a restarted data plane does not
 * begin with an empty list and let a revoked party back in before its first load report.
 */
interface RevocationStateFile {
  revokedFingerprints: string[];
  savedAt: string;
}

function isStateFile(value: unknown): value is RevocationStateFile {
  const v = value as Partial<RevocationStateFile> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    Array.isArray(v.revokedFingerprints) &&
    v.revokedFingerprints.every((f) => typeof f === "string")
  );
}

/** The saved list; undefined when there is no file yet. Throws when the file is unreadable or malformed. */
export async function loadRevocationState(path: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  if (!isStateFile(parsed)) throw new Error(`${path} does not hold a revocation list`);
  return parsed.revokedFingerprints;
}

/** Written to a temporary file and renamed over the old one, so a crash never leaves half a list. */
export async function saveRevocationState(path: string, revokedFingerprints: string[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const state: RevocationStateFile = { revokedFingerprints, savedAt: new Date().toISOString() };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}
