/**
 * D1 reports every failure as an Error whose message starts with "D1_" and, when SQLite itself
 * refused a statement, names SQLite's result code. Constraint failures the stores expect are
 * told apart by that text, as D1 offers nothing else.
 */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed/i.test(error.message);
}

export function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof Error && /FOREIGN KEY constraint failed/i.test(error.message);
}

/** A CHECK constraint named `name` (CONSTRAINT name CHECK (...)) refused a write. */
export function isCheckViolation(error: unknown, name: string): boolean {
  return error instanceof Error && error.message.includes(`CHECK constraint failed: ${name}`);
}

/**
 * D1 failed to answer (network, overload, storage reset, timeout), as opposed to SQLite
 * refusing a statement, which is a bug of ours (SQLITE_ERROR: syntax, unknown table) or a
 * constraint the store did not expect (SQLITE_CONSTRAINT). A failed statement or batch writes
 * nothing, and every request writes in one statement or one batch, so the request can be
 * answered 503 and retried.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.message.startsWith("D1_") &&
    !/\bSQLITE_(ERROR|CONSTRAINT)\b/.test(error.message)
  );
}
