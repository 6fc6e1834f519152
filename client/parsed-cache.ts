/**
 * Parsed forms of PEM texts (keys, certificates, TLS contexts, checked identities), kept per
 * distinct text: a function connects many times with one identity, and parsing and checking
 * it again cost milliseconds of every pair's setup. Only successful results are kept, so a
 * bad identity fails on every attempt exactly as before.
 */

/** Distinct texts remembered per cache; past it the oldest is dropped. One function uses one or two identities. */
export const MAX_PARSED_CACHE_ENTRIES = 32;

export interface ParsedCache<T> {
  get(text: string, compute: () => T): T;
  readonly size: number;
}

export function parsedCache<T>(): ParsedCache<T> {
  const entries = new Map<string, T>();
  return {
    get(text, compute) {
      const hit = entries.get(text);
      if (hit !== undefined) return hit;
      const value = compute();
      if (entries.size >= MAX_PARSED_CACHE_ENTRIES) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.set(text, value);
      return value;
    },
    get size() {
      return entries.size;
    },
  };
}
