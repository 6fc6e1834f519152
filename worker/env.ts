/** The one environment type of the worker app: bindings from wrangler.toml and secrets. */
export interface Bindings {
  DB: D1Database;
  /** PEM certificate of the relay CA. */
  RELAY_CA_CERT: string;
  /** PKCS#8 PEM private key of the relay CA. */
  RELAY_CA_KEY: string;
  /** JSON array of private Ed25519 JWKs, each with a kid; the first one signs, all are published. */
  TICKET_KEYS: string;
  /** Bearer token for the admin API. */
  ADMIN_TOKEN: string;
  /** base64 of 32 random bytes: AES-GCM key for stored backend credentials. */
  BACKEND_SECRET_KEY: string;
  /** Vars (wrangler.toml [vars]), optional: ticket issuance per party (tickets/rate-limit.ts). */
  TICKETS_PER_SECOND?: string | number;
  TICKET_BURST?: string | number;
}

export interface Variables {
  requestId: string;
}

export type AppEnv = { Bindings: Bindings; Variables: Variables };
