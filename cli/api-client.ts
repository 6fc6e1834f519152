import type {
  IssuedCertificate,
  Page,
  PartyInfo,
  RelayInfo,
  RevocationListInfo,
  RevocationListResponse,
  TicketInfo,
  UserInfo,
} from "../protocol/api.ts";
import { FlockError, isErrorCode } from "../protocol/errors.ts";
import { revocationListPath, TICKETS_PATH } from "../protocol/wire.ts";
import { type ConfigSources, resolveConfig } from "./config.ts";
import { UserError } from "./output.ts";

/** One worker call may take this long before the CLI gives up on it. */
export const API_REQUEST_TIMEOUT_MS = 30_000;
/** Page size asked for when following cursors (the worker's maximum). */
export const LIST_PAGE_LIMIT = 200;

export interface ApiClientOptions {
  url: string;
  /** Admin bearer token; absent for the public and signed endpoints. */
  token?: string;
  timeoutMs?: number;
  /** Items asked for per page when following cursors. */
  pageSize?: number;
}

export interface RequestOptions {
  /** Send the body as-is with this content type instead of as JSON. */
  contentType?: string;
  /** Answer as text instead of parsing JSON. */
  text?: boolean;
}

export interface ListOptions {
  /** Stop after this many items; without it every page is followed. */
  limit?: number;
}

/** A small typed client for the worker API; every failure becomes a FlockError or a UserError. */
export class ApiClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly pageSize: number;

  constructor(options: ApiClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? API_REQUEST_TIMEOUT_MS;
    this.pageSize = options.pageSize ?? LIST_PAGE_LIMIT;
  }

  async request<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/json";
      payload = options.contentType ? String(body) : JSON.stringify(body);
    }
    const target = `${this.url}${path}`;
    let response: Response;
    try {
      response = await fetch(target, {
        method,
        headers,
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw networkError(this.url, error, this.timeoutMs);
    }
    const text = await response.text();
    if (!response.ok) throw answerError(this.url, method, path, response.status, text);
    if (options.text) return text as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new UserError(`${method} ${target} answered ${response.status} with a body that is not JSON.`);
    }
  }

  /** Follows `nextCursor` until the last page or until `limit` items are in hand. */
  async listAll<T>(path: string, options: ListOptions = {}): Promise<T[]> {
    const items: T[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const want =
        options.limit === undefined ? this.pageSize : Math.min(this.pageSize, options.limit - items.length);
      const query = new URLSearchParams({ limit: String(want) });
      if (cursor) query.set("cursor", cursor);
      const page = await this.request<Page<T>>("GET", `${path}?${query}`);
      items.push(...page.items);
      // A cursor seen before would loop forever; a well-behaved worker never sends one.
      if (page.nextCursor !== undefined && seen.has(page.nextCursor)) {
        throw new UserError(`The worker at ${this.url} sent the same ${path} cursor twice; stopping.`);
      }
      cursor = page.nextCursor;
      if (cursor !== undefined) seen.add(cursor);
    } while (cursor && (options.limit === undefined || items.length < options.limit));
    return options.limit === undefined ? items : items.slice(0, options.limit);
  }

  relayCa(): Promise<string> {
    return this.request("GET", "/v1/relay-ca", undefined, { text: true });
  }

  async createUser(name: string): Promise<UserInfo> {
    return (await this.request<{ item: UserInfo }>("POST", "/v1/users", { name })).item;
  }

  listUsers(options?: ListOptions): Promise<UserInfo[]> {
    return this.listAll("/v1/users", options);
  }

  async deleteUser(name: string): Promise<UserInfo> {
    return (await this.request<{ item: UserInfo }>("DELETE", `/v1/users/${enc(name)}`)).item;
  }

  createParty(user: string, name: string, csr: string): Promise<IssuedCertificate<PartyInfo>> {
    return this.request("POST", `/v1/users/${enc(user)}/parties`, { name, csr });
  }

  listParties(user: string | undefined, options?: ListOptions): Promise<PartyInfo[]> {
    return this.listAll(user ? `/v1/users/${enc(user)}/parties` : "/v1/parties", options);
  }

  async revokeParty(user: string, name: string): Promise<PartyInfo> {
    const path = `/v1/users/${enc(user)}/parties/${enc(name)}/revoke`;
    return (await this.request<{ item: PartyInfo }>("POST", path)).item;
  }

  createRelay(
    name: string,
    hosts: string[],
    port: number,
    csr: string,
  ): Promise<IssuedCertificate<RelayInfo>> {
    return this.request("POST", "/v1/relays", { name, hosts, port, csr });
  }

  async revokeRelay(name: string): Promise<RelayInfo> {
    return (await this.request<{ item: RelayInfo }>("POST", `/v1/relays/${enc(name)}/revoke`)).item;
  }

  listRelays(options?: ListOptions): Promise<RelayInfo[]> {
    return this.listAll("/v1/relays", options);
  }

  /** The ticket audit, newest first: of the user, or of one of its parties. */
  listTickets(user: string, party: string | undefined, options?: ListOptions): Promise<TicketInfo[]> {
    const owner =
      party === undefined ? `/v1/users/${enc(user)}` : `/v1/users/${enc(user)}/parties/${enc(party)}`;
    return this.listAll(`${owner}/tickets`, options);
  }

  /** The user's signed revocation list as the worker holds it, or null before the first publication. */
  async revocationList(user: string): Promise<string | null> {
    return (await this.request<RevocationListResponse>("GET", revocationListPath(user))).list;
  }

  async publishRevocationList(user: string, list: string): Promise<RevocationListInfo> {
    return (await this.request<{ item: RevocationListInfo }>("PUT", revocationListPath(user), { list })).item;
  }
}

const enc = encodeURIComponent;

function networkError(url: string, error: unknown, timeoutMs: number): UserError {
  const name = (error as Error)?.name;
  if (name === "TimeoutError" || name === "AbortError") {
    return new UserError(`The Flock worker at ${url} did not answer within ${timeoutMs} ms.`);
  }
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const why = cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
  return new UserError(`Cannot reach the Flock worker at ${url} (${why}); is \`flock dev\` running?`);
}

function answerError(url: string, method: string, path: string, status: number, text: string): Error {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const { error, code } = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  if (isErrorCode(code)) {
    if (code === "UNAUTHENTICATED" && !path.startsWith(TICKETS_PATH)) {
      return new FlockError(
        code,
        `The worker at ${url} refused the admin token; check FLOCK_TOKEN or run \`flock login\` again.`,
      );
    }
    return new FlockError(code, typeof error === "string" && error ? error : undefined);
  }
  const snippet = text.slice(0, 200).replace(/\s+/g, " ").trim();
  return new UserError(`${method} ${url}${path} answered HTTP ${status}${snippet ? `: ${snippet}` : ""}`);
}

/** A client for the admin API with URL and token from flags > env > `.flock/config.json`. */
export async function adminClient(sources: ConfigSources = {}): Promise<ApiClient> {
  return new ApiClient(await resolveConfig(sources));
}
