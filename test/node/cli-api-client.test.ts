import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, LIST_PAGE_LIMIT } from "../../cli/api-client.ts";
import { UserError } from "../../cli/output.ts";
import { FlockError } from "../../protocol/errors.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

describe("ApiClient", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  async function serve(handler: Handler): Promise<string> {
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => handler(req, res, body));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };

  it("sends the admin token as a bearer and JSON bodies", async () => {
    const seen: Array<{ auth?: string; type?: string; body: string }> = [];
    const url = await serve((req, res, body) => {
      seen.push({ auth: req.headers.authorization, type: req.headers["content-type"], body });
      json(res, 201, { item: { name: "alice", createdAt: "2026-01-01T00:00:00Z" } });
    });
    const user = await new ApiClient({ url, token: "tok" }).createUser("alice");
    expect(user.name).toBe("alice");
    expect(seen).toEqual([{ auth: "Bearer tok", type: "application/json", body: '{"name":"alice"}' }]);
  });

  it("turns an {error, code} answer into a FlockError with that code and status", async () => {
    const url = await serve((_req, res) =>
      json(res, 409, { error: "A user named alice exists.", code: "USER_EXISTS" }),
    );
    const error = await new ApiClient({ url, token: "t" }).createUser("alice").catch((e) => e);
    expect(error).toBeInstanceOf(FlockError);
    expect(error.code).toBe("USER_EXISTS");
    expect(error.status).toBe(409);
    expect(error.message).toBe("A user named alice exists.");
  });

  it("explains a refused admin token", async () => {
    const url = await serve((_req, res) => json(res, 401, { error: "no", code: "UNAUTHENTICATED" }));
    const error = await new ApiClient({ url, token: "bad" }).listUsers().catch((e) => e);
    expect(error).toBeInstanceOf(FlockError);
    expect(error.code).toBe("UNAUTHENTICATED");
    expect(error.message).toContain(`The worker at ${url} refused the admin token`);
  });

  it("reports a non-Flock error answer with its HTTP status", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(502);
      res.end("<html>Bad gateway</html>");
    });
    const error = await new ApiClient({ url }).request<never>("GET", "/healthz").catch((e: Error) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`GET ${url}/healthz answered HTTP 502: <html>Bad gateway</html>`);
  });

  it("names the URL when the worker cannot be reached", async () => {
    const url = await serve(() => {});
    const server = servers.pop() as Server;
    await new Promise((r) => server.close(r));
    const error = await new ApiClient({ url }).request<never>("GET", "/healthz").catch((e: Error) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain(`Cannot reach the Flock worker at ${url} (ECONNREFUSED)`);
  });

  it("gives up after timeoutMs on a worker that never answers", async () => {
    const url = await serve(() => {
      // never answers
    });
    const error = await new ApiClient({ url, timeoutMs: 200 })
      .request<never>("GET", "/healthz")
      .catch((e: Error) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`The Flock worker at ${url} did not answer within 200 ms.`);
  });

  it("follows cursors to the end, and stops at --limit", async () => {
    const all = Array.from({ length: 5 }, (_, i) => ({ name: `u${i}`, createdAt: "x" }));
    const asked: string[] = [];
    const url = await serve((req, res) => {
      const query = new URL(req.url ?? "", "http://x").searchParams;
      asked.push(query.toString());
      const start = Number(query.get("cursor") ?? 0);
      const end = start + Number(query.get("limit"));
      json(res, 200, {
        items: all.slice(start, end),
        ...(end < all.length ? { nextCursor: String(end) } : {}),
      });
    });
    const client = new ApiClient({ url, token: "t", pageSize: 2 });
    expect((await client.listUsers()).map((u) => u.name)).toEqual(["u0", "u1", "u2", "u3", "u4"]);
    expect(asked).toEqual(["limit=2", "limit=2&cursor=2", "limit=2&cursor=4"]);
    asked.length = 0;
    expect((await client.listUsers({ limit: 3 })).map((u) => u.name)).toEqual(["u0", "u1", "u2"]);
    expect(asked).toEqual(["limit=2", "limit=1&cursor=2"]);
    asked.length = 0;
    await new ApiClient({ url, token: "t" }).listUsers();
    expect(asked).toEqual([`limit=${LIST_PAGE_LIMIT}`]);
  });

  it("stops with a clear error when the worker repeats a cursor", async () => {
    const url = await serve((_req, res) =>
      json(res, 200, { items: [{ name: "u", createdAt: "x" }], nextCursor: "same" }),
    );
    await expect(new ApiClient({ url, token: "t" }).listUsers()).rejects.toThrow(
      `The worker at ${url} sent the same /v1/users cursor twice; stopping.`,
    );
  });
});
