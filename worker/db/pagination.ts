import type { Page } from "../../protocol/api.ts";
import { fromBase64Url, toBase64Url } from "../../protocol/encoding.ts";
import { FlockError } from "../../protocol/errors.ts";

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 200;
/** A cursor is a few names; anything longer is not one of ours. */
const MAX_CURSOR_CHARS = 512;

/**
 * Keyset pagination: a cursor is the sort key of the last row served, so a page is one
 * indexed range scan however deep the client goes, and rows inserted meanwhile are not
 * skipped or repeated.
 */
export interface PageQuery {
  limit: number;
  /** Sort key of the last row of the previous page; empty strings sort before every name. */
  after: string[];
}

export function parsePageQuery(
  limit: string | undefined,
  cursor: string | undefined,
  keyLength: number,
): PageQuery {
  let parsedLimit = DEFAULT_PAGE_LIMIT;
  if (limit !== undefined) {
    parsedLimit = /^[0-9]{1,4}$/.test(limit) ? Number(limit) : Number.NaN;
    if (!(parsedLimit >= 1 && parsedLimit <= MAX_PAGE_LIMIT)) {
      throw new FlockError("BAD_REQUEST", `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}.`);
    }
  }
  if (cursor === undefined) return { limit: parsedLimit, after: Array(keyLength).fill("") };
  return { limit: parsedLimit, after: decodeCursor(cursor, keyLength) };
}

function decodeCursor(cursor: string, keyLength: number): string[] {
  try {
    if (cursor.length > MAX_CURSOR_CHARS) throw new Error("long");
    const key: unknown = JSON.parse(new TextDecoder().decode(fromBase64Url(cursor)));
    if (Array.isArray(key) && key.length === keyLength && key.every((k) => typeof k === "string")) {
      return key;
    }
  } catch {
    // fall through to the one error below
  }
  throw new FlockError("BAD_REQUEST", "The cursor is not one this list handed out.");
}

/** Callers fetch limit + 1 rows: the extra one only says whether another page exists. */
export function toPage<R, T>(
  rows: R[],
  query: PageQuery,
  keyOf: (row: R) => string[],
  toItem: (row: R) => T,
): Page<T> {
  const pageRows = rows.slice(0, query.limit);
  const page: Page<T> = { items: pageRows.map(toItem) };
  const last = pageRows.at(-1);
  if (rows.length > query.limit && last !== undefined) {
    page.nextCursor = toBase64Url(new TextEncoder().encode(JSON.stringify(keyOf(last))));
  }
  return page;
}
