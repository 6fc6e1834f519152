import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare, type MiniflareOptions } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyMigrationsRestarting,
  MIGRATIONS_TABLE,
  MigrationFailed,
} from "../../cli/local/d1-migrations.ts";

type D1Database = Awaited<ReturnType<Miniflare["getD1Database"]>>;

/** The real simulator's database, whose batches from the `from`-th on throw as its internal assertion does. */
function assertingFrom(db: D1Database, from: number): D1Database {
  let batches = 0;
  return new Proxy(db, {
    get(target, key) {
      if (key === "batch" && ++batches >= from) {
        return async () => {
          throw new Error("D1_ERROR", { cause: new Error("false == true") });
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The real simulator's database whose `from`-th batch commits, then throws the assertion as its reply is lost. */
function assertingAfterCommit(db: D1Database, from: number): D1Database {
  let batches = 0;
  return new Proxy(db, {
    get(target, key) {
      if (key === "batch" && ++batches === from) {
        return async (statements: Parameters<D1Database["batch"]>[0]) => {
          await target.batch(statements);
          throw new Error("false == true");
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** The real simulator's database whose `prepare` throws as miniflare's out-of-step proxy does. */
function assertingPrepare(db: D1Database): D1Database {
  return new Proxy(db, {
    get(target, key) {
      if (key === "prepare") {
        return () => {
          throw new Error("false == true");
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("applyMigrationsRestarting", () => {
  const options: MiniflareOptions = {
    modules: true,
    script: "export default { fetch() { return new Response('') } }",
    d1Databases: ["DB1", "DB2", "DB3", "DB4", "DB5", "DB6"],
  };
  let mf: Miniflare;
  let dir: string;
  let database = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flock-migrations-"));
    await writeFile(join(dir, "0001_a.sql"), "CREATE TABLE a (x INTEGER);");
    await writeFile(join(dir, "0002_b.sql"), "-- why b exists\nCREATE TABLE b (y INTEGER);");
    await writeFile(join(dir, "0003_c.sql"), "CREATE TABLE c (z INTEGER);");
    mf = new Miniflare(options);
    await mf.ready;
  });

  afterAll(async () => {
    await mf.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh database; `broken(db, n)` says how the n-th open (1, 2, …) sees it. */
  function opener(broken: (db: D1Database, open: number) => D1Database) {
    const binding = `DB${++database}`;
    let opens = 0;
    const restarts = { count: 0 };
    return {
      open: async () => broken(await mf.getD1Database(binding), ++opens),
      restart: async () => {
        restarts.count++;
        await mf.setOptions(options);
      },
      restarts,
      names: async () => {
        const db = await mf.getD1Database(binding);
        const rows = await db
          .prepare(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`)
          .all<{ name: string }>();
        return rows.results.map((r) => r.name);
      },
    };
  }

  it.each([
    {
      when: "restarts workerd once when the simulator asserts, and goes on where it stopped, each migration once",
      broken: (d: D1Database) => assertingFrom(d, 2),
    },
    {
      when: "restarts too when the assertion comes before any migration, from the proxy's prepare",
      broken: assertingPrepare,
    },
    {
      when: "counts a migration whose batch committed before the assertion as applied by this start",
      broken: (d: D1Database) => assertingAfterCommit(d, 2),
    },
  ])("$when", async ({ broken }) => {
    const db = opener((d, open) => (open === 1 ? broken(d) : d));
    const all = ["0001_a.sql", "0002_b.sql", "0003_c.sql"];
    expect(await applyMigrationsRestarting(db.open, db.restart, dir)).toEqual(all);
    expect(db.restarts.count).toBe(1);
    expect(await db.names()).toEqual(all);
  });

  it("gives up with the migration's name when the simulator asserts again after the restart", async () => {
    const db = opener((d) => assertingFrom(d, 1));
    const failure = applyMigrationsRestarting(db.open, db.restart, dir);
    await expect(failure).rejects.toBeInstanceOf(MigrationFailed);
    await expect(failure).rejects.toThrow("Migration 0001_a.sql failed: false == true");
    expect(db.restarts.count).toBe(1);
    expect(await db.names()).toEqual([]);
  });

  it("reports a real SQL error at once, with no restart, leaving the migrations before it applied", async () => {
    const broken = await mkdtemp(join(tmpdir(), "flock-migrations-"));
    try {
      await writeFile(join(broken, "0001_a.sql"), "CREATE TABLE a (x INTEGER);");
      await writeFile(join(broken, "0002_bad.sql"), "CREATE TABLE a (x INTEGER);");
      const db = opener((d) => d);
      await expect(applyMigrationsRestarting(db.open, db.restart, broken)).rejects.toThrow(
        /Migration 0002_bad\.sql failed: .*already exists/,
      );
      expect(db.restarts.count).toBe(0);
      expect(await db.names()).toEqual(["0001_a.sql"]);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});
