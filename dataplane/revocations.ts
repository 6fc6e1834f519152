/**
 * Relay certificate fingerprints of revoked parties, as the worker last said in a load
 * report answer. Kept as is when the worker is unreachable: the last word stands.
 */
export class Revocations {
  #revoked = new Set<string>();

  replace(fingerprints: string[]): void {
    this.#revoked = new Set(fingerprints);
  }

  has(fingerprint: string): boolean {
    return this.#revoked.has(fingerprint);
  }

  get size(): number {
    return this.#revoked.size;
  }
}
