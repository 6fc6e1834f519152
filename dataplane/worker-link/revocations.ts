/**
 * Relay certificate fingerprints of revoked parties, as the worker last said in a load
 * report answer (or as the state file saved from one). Kept as is when the worker is
 * unreachable: the last word stands. Until either has spoken the list is unknown, and
 * direct mode (which has no fresh ticket vouching for the party) is refused.
 */
export class Revocations {
  #revoked = new Set<string>();
  #known = false;

  /** Replaces the list; returns the fingerprints that were not revoked before. */
  replace(fingerprints: string[]): string[] {
    const added = fingerprints.filter((f) => !this.#revoked.has(f));
    this.#revoked = new Set(fingerprints);
    this.#known = true;
    return added;
  }

  has(fingerprint: string): boolean {
    return this.#revoked.has(fingerprint);
  }

  get known(): boolean {
    return this.#known;
  }

  list(): string[] {
    return [...this.#revoked];
  }

  get size(): number {
    return this.#revoked.size;
  }
}
