/** A batch's statements by name: one statement, or a list whose results come back as a list. */
export type BatchParts = Record<string, D1PreparedStatement | D1PreparedStatement[]>;

export type BatchResults<T extends BatchParts> = {
  [K in keyof T]: T[K] extends D1PreparedStatement[] ? D1Result[] : D1Result;
};

/**
 * Runs `parts` as one D1 batch, in the order they are written (one round trip, one
 * transaction: a failing statement undoes the others), and hands back each part's results
 * under its own name, so no caller counts positions in another module's statements.
 */
export async function runBatch<T extends BatchParts>(db: D1Database, parts: T): Promise<BatchResults<T>> {
  const named = Object.entries(parts);
  const results = await db.batch(named.flatMap(([, part]) => (Array.isArray(part) ? part : [part])));
  const out: Record<string, D1Result | D1Result[]> = {};
  let next = 0;
  for (const [name, part] of named) {
    const count = Array.isArray(part) ? part.length : 1;
    const own = results.slice(next, next + count);
    next += count;
    const single = own[0];
    if (!Array.isArray(part) && single === undefined)
      throw new Error(`D1 batch returned no result for ${name}`);
    out[name] = Array.isArray(part) ? own : (single as D1Result);
  }
  return out as BatchResults<T>;
}

/** The first row a statement returned, if any. */
export function firstRow<R>(result: D1Result): R | undefined {
  return result.results[0] as R | undefined;
}

/** Rows a statement changed: what a sweep counts. */
export function changes(result: D1Result): number {
  return result.meta.changes ?? 0;
}
