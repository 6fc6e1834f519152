import type { CryptoKey } from "jose";
import { importJWK } from "jose";
import type { Logger } from "pino";
import { FlockError } from "../../protocol/errors.ts";
import { TICKET_ALG } from "../../protocol/ticket.ts";

export interface JwksCacheOptions {
  jwksUrl: string;
  refetchMinIntervalMs: number;
  requestTimeoutMs: number;
  logger: Logger;
}

/**
 * The worker's ticket keys, fetched from its JWKS and kept. An unknown kid triggers a
 * refetch (a rotation), but at most once per refetchMinIntervalMs so a flood of tickets with
 * made-up kids cannot turn the data plane into a JWKS hammer. A failed fetch keeps the keys
 * already known: a worker that is briefly unreachable must not stop pairing.
 */
export class JwksCache {
  readonly #options: JwksCacheOptions;
  #keys = new Map<string, CryptoKey>();
  /**
   * Kids the last load report said the worker publishes, when that report is newer than the
   * last JWKS fetch: keys not in it are retired. A later fetch supersedes it.
   */
  #published: Set<string> | undefined;
  #lastFetchAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;

  constructor(options: JwksCacheOptions) {
    this.#options = options;
  }

  async key(kid: string): Promise<CryptoKey> {
    let key = this.#usable(kid);
    if (!key && this.#mayFetch()) {
      await this.refresh();
      key = this.#usable(kid);
    }
    if (!key) throw new FlockError("TICKET_UNKNOWN_KEY");
    return key;
  }

  /** Applies the kids from a load report answer: retires keys the worker dropped, fetches new ones. */
  setPublishedKids(kids: string[]): void {
    this.#published = new Set(kids);
    if (kids.some((kid) => !this.#keys.has(kid)) && this.#mayFetch()) void this.refresh();
  }

  /** Fetches the JWKS now (deduplicated); never throws: on failure the old keys stay. */
  refresh(): Promise<void> {
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  #usable(kid: string): CryptoKey | undefined {
    if (this.#published && !this.#published.has(kid)) return undefined;
    return this.#keys.get(kid);
  }

  #mayFetch(): boolean {
    return (
      this.#inflight !== undefined || Date.now() - this.#lastFetchAt >= this.#options.refetchMinIntervalMs
    );
  }

  async #fetch(): Promise<void> {
    this.#lastFetchAt = Date.now();
    try {
      const response = await fetch(this.#options.jwksUrl, {
        signal: AbortSignal.timeout(this.#options.requestTimeoutMs),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error("no keys array");
      const next = new Map<string, CryptoKey>();
      for (const jwk of body.keys as Array<Record<string, unknown>>) {
        if (jwk?.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.kid !== "string") continue;
        if (jwk.d !== undefined) continue; // never accept a private key from the wire
        next.set(
          jwk.kid,
          (await importJWK({ kty: "OKP", crv: "Ed25519", x: jwk.x as string }, TICKET_ALG)) as CryptoKey,
        );
      }
      this.#keys = next;
      // The JWKS just fetched is the worker's current set, fresher than any earlier report's list.
      this.#published = undefined;
      this.#options.logger.info({ kids: [...next.keys()] }, "ticket keys loaded");
    } catch (error) {
      this.#options.logger.warn(
        { err: (error as Error).message, known: this.#keys.size },
        "could not fetch ticket keys; keeping the ones already known",
      );
    }
  }
}
