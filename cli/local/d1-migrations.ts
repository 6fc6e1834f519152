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
 * How many times one migration's batch is tried. miniflare's D1 simulator now and then fails a
 * batch with an internal assertion ("false == true": its `total_changes()` row came back
 * empty); the batch is one transaction, so trying it again is safe, and a real SQL error fails
 * every try alike.
 */
export const MIGRATION_ATTEMPTS = 2;

/**
 * Applies the migrations of `dir` that the table does not list yet, each in one batch
 * (a transaction) together with its bookkeeping row, so a failed migration leaves no trace.
 * Returns the names applied now.
 */
export async function applyMigrations(db: D1Database, dir: string): Promise<string[]> {
  await db.prepare(CREATE_MIGRATIONS_TABLE).run();
  const applied = await db.prepare(`SELECT name FROM ${MIGRATIONS_TABLE}`).all<{ name: string }>();
  const done = new Set(applied.results.map((row) => row.name));
  const now: string[] = [];
  for (const name of await migrationNames(dir)) {
    if (done.has(name)) continue;
    const sql = await readFile(join(dir, name), "utf8");
    const batch = () =>
      db.batch([db.prepare(sql), db.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (name) VALUES (?)`).bind(name)]);
    for (let attempt = 1; ; attempt++) {
      try {
        await batch();
        break;
      } catch (error) {
        if (attempt < MIGRATION_ATTEMPTS) continue;
        const cause = (error as { cause?: Error }).cause ?? error;
        throw new Error(`Migration ${name} failed: ${(cause as Error).message}`);
      }
    }
    now.push(name);
  }
  return now;
}
