import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, MIGRATION_ATTEMPTS, MIGRATIONS_TABLE } from "../../cli/local/d1-migrations.ts";

type D1Database = Awaited<ReturnType<Miniflare["getD1Database"]>>;

/** The real simulator's database, whose first `failures` batches throw as its internal assertion does. */
function failingFirstBatches(db: D1Database, failures: number): D1Database {
  let left = failures;
  return new Proxy(db, {
    get(target, key) {
      if (key === "batch" && left > 0) {
        left--;
        return async () => {
          throw new Error("D1_ERROR", { cause: new Error("false == true") });
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("applyMigrations", () => {
  let mf: Miniflare;
  let dir: string;
  let database = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flock-migrations-"));
    await writeFile(join(dir, "0001_a.sql"), "CREATE TABLE a (x INTEGER);");
    await writeFile(join(dir, "0002_b.sql"), "-- why b exists\nCREATE TABLE b (y INTEGER);");
    mf = new Miniflare({
      modules: true,
      script: "export default { fetch() { return new Response('') } }",
      d1Databases: ["DB1", "DB2", "DB3"],
    });
    await mf.ready;
  });

  afterAll(async () => {
    await mf.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const freshDatabase = () => mf.getD1Database(`DB${++database}`);

  it("tries a batch the simulator failed once more, and applies each migration exactly once", async () => {
    const db = await freshDatabase();
    expect(await applyMigrations(failingFirstBatches(db, MIGRATION_ATTEMPTS - 1), dir)).toEqual([
      "0001_a.sql",
      "0002_b.sql",
    ]);
    const rows = await db.prepare(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`).all<{ name: string }>();
    expect(rows.results.map((r) => r.name)).toEqual(["0001_a.sql", "0002_b.sql"]);
    expect(await applyMigrations(db, dir)).toEqual([]);
  });

  it("names the migration and the cause when every try fails, and records nothing for it", async () => {
    const db = await freshDatabase();
    await expect(applyMigrations(failingFirstBatches(db, MIGRATION_ATTEMPTS), dir)).rejects.toThrow(
      "Migration 0001_a.sql failed: false == true",
    );
    const rows = await db.prepare(`SELECT name FROM ${MIGRATIONS_TABLE}`).all<{ name: string }>();
    expect(rows.results).toEqual([]);
  });

  it("reports a real SQL error in a migration file, leaving the ones before it applied", async () => {
    const broken = await mkdtemp(join(tmpdir(), "flock-migrations-"));
    try {
      await writeFile(join(broken, "0001_a.sql"), "CREATE TABLE a (x INTEGER);");
      await writeFile(join(broken, "0002_bad.sql"), "CREATE TABLE a (x INTEGER);");
      const db = await freshDatabase();
      await expect(applyMigrations(db, broken)).rejects.toThrow(
        /Migration 0002_bad\.sql failed: .*already exists/,
      );
      const rows = await db.prepare(`SELECT name FROM ${MIGRATIONS_TABLE}`).all<{ name: string }>();
      expect(rows.results.map((r) => r.name)).toEqual(["0001_a.sql"]);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});
