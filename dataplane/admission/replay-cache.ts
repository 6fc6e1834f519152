/**
 * Ticket ids already used, remembered until the ticket would have expired anyway: after
 * that the expiry check refuses it, so the entry can go. Pruned on insert in bounded
 * steps so memory follows the live ticket rate, not the uptime.
 */
export class ReplayCache {
  /** Insertion order is roughly expiry order (same TTL), which makes pruning from the front cheap. */
  readonly #expiresAt = new Map<string, number>();

  /** True the first time a jti is seen; false for a replay. */
  useOnce(jti: string, expSeconds: number, nowSeconds = Date.now() / 1000): boolean {
    this.#prune(nowSeconds);
    if (this.#expiresAt.has(jti)) return false;
    this.#expiresAt.set(jti, expSeconds);
    return true;
  }

  #prune(nowSeconds: number): void {
    for (const [jti, exp] of this.#expiresAt) {
      if (exp > nowSeconds) break;
      this.#expiresAt.delete(jti);
    }
  }
}
