import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Miniflare } from "miniflare";

type D1Database = Awaited<ReturnType<Miniflare["getD1Database"]>>;

/** wrangler's bookkeeping table; using its name and shape lets `wrangler d1 migrations apply --local` agree with us. */
export const MIGRATIONS_TABLE = "d1_migrations";

const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE}(
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT UNIQUE,
  applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
);`;

/** Migration file names in the order wrangler applies them: every `*.sql`, sorted by name. */
export async function migrationNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith(".sql")).sort();
}

/**
 * What a call through miniflare's Node-side proxy fails with when its synchronous fetcher reads
 * a reply that is not the one it waits for (an internal `assert`, seen now and then under load).
 * Once out of step it stays so: every later call of that Miniflare instance fails alike, so
 * only a new instance, with a new proxy, gets past it.
 */
const SIMULATOR_ASSERTION = "false == true";

function isSimulatorAssertion(error: unknown): boolean {
  return error instanceof Error && error.message === SIMULATOR_ASSERTION;
}

export class MigrationFailed extends Error {
  /** The migration that failed. */
  readonly migration: string;
  /** The migrations this call applied before the failed one. */
  readonly applied: string[];
  constructor(migration: string, cause: Error, applied: string[]) {
    super(`Migration ${migration} failed: ${cause.message}`, { cause });
    this.migration = migration;
    this.applied = applied;
  }
}

/**
 * Applies the migrations of `dir` that the table does not list yet, each in one batch
 * (a transaction) together with its bookkeeping row, so a failed migration leaves no trace.
 * Returns the names applied now.
 */
async function applyMigrations(db: D1Database, dir: string): Promise<string[]> {
  await db.prepare(CREATE_MIGRATIONS_TABLE).run();
  const applied = await db.prepare(`SELECT name FROM ${MIGRATIONS_TABLE}`).all<{ name: string }>();
  const done = new Set(applied.results.map((row) => row.name));
  const now: string[] = [];
  for (const name of await migrationNames(dir)) {
    if (done.has(name)) continue;
    const sql = await readFile(join(dir, name), "utf8");
    try {
      await db.batch([
        db.prepare(sql),
        db.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (name) VALUES (?)`).bind(name),
      ]);
    } catch (error) {
      throw new MigrationFailed(name, ((error as { cause?: Error }).cause ?? error) as Error, now);
    }
    now.push(name);
  }
  return now;
}

/**
 * applyMigrations, and when the simulator fails with its assertion, `restart()` (a new
 * Miniflare instance) and once more from where it stopped. The proxy can fail after workerd
 * committed the batch; the batch holds its bookkeeping row, so the second pass skips it, and it
 * still counts as applied by this start.
 */
export async function applyMigrationsRestarting(
  open: () => Promise<D1Database>,
  restart: () => Promise<void>,
  dir: string,
): Promise<string[]> {
  try {
    return await applyMigrations(await open(), dir);
  } catch (error) {
    const failed = error instanceof MigrationFailed ? error : undefined;
    if (!isSimulatorAssertion(failed ? failed.cause : error)) throw error;
    await restart();
    const rest = await applyMigrations(await open(), dir);
    const committedAnyway = failed && !rest.includes(failed.migration) ? [failed.migration] : [];
    return [...(failed?.applied ?? []), ...committedAnyway, ...rest];
  }
}
