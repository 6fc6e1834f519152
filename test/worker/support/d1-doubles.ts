/**
 * Wrappers around the real D1 binding for what cannot happen on demand here: counting round
 * trips, and D1 failing to answer. Every statement still runs on the real database.
 */

type Run = "first" | "all" | "run" | "raw";
const RUNS: Run[] = ["first", "all", "run", "raw"];

/** Calls `onCall(sql)` before each round trip a statement makes on its own; bind keeps the hook. */
function hooked(
  statement: D1PreparedStatement,
  sql: string,
  onCall: (sql: string[]) => void,
): D1PreparedStatement {
  const bind = statement.bind.bind(statement);
  for (const run of RUNS) {
    const original = (statement[run] as (...args: unknown[]) => unknown).bind(statement);
    Object.assign(statement, {
      [run]: (...args: unknown[]) => {
        onCall([sql]);
        return original(...args);
      },
    });
  }
  statement.bind = (...values: unknown[]) => hooked(bind(...values), sql, onCall);
  sqlOf.set(statement, sql);
  return statement;
}

const sqlOf = new WeakMap<D1PreparedStatement, string>();

/** The database with `onCall` told the SQL of every round trip (one per batch, one per statement run alone). */
function withHook(db: D1Database, onCall: (sql: string[]) => void): D1Database {
  return new Proxy(db, {
    get(target, property) {
      if (property === "prepare") return (query: string) => hooked(target.prepare(query), query, onCall);
      if (property === "batch")
        return (statements: D1PreparedStatement[]) => {
          onCall(statements.map((s) => sqlOf.get(s) ?? ""));
          return target.batch(statements);
        };
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

export function countingRoundTrips(db: D1Database): { db: D1Database; trips: () => number } {
  let trips = 0;
  return {
    db: withHook(db, () => {
      trips++;
    }),
    trips: () => trips,
  };
}

const WRITE = /^\s*(INSERT|UPDATE|DELETE)\b/i;

/** What D1 says when it cannot be reached mid-request. */
export const D1_OUTAGE_MESSAGE = "D1_ERROR: Network connection lost.";

/**
 * The database failing, as D1 does when it cannot be reached, on the `failAt`-th round trip
 * that would write (1 = the first); the failing call runs nothing. `writes()` counts the
 * round trips that wrote or would have written.
 */
export function failingOnWrite(db: D1Database, failAt: number): { db: D1Database; writes: () => number } {
  let writes = 0;
  return {
    db: withHook(db, (sql) => {
      if (!sql.some((s) => WRITE.test(s))) return;
      writes++;
      if (writes === failAt) throw new Error(D1_OUTAGE_MESSAGE);
    }),
    writes: () => writes,
  };
}
