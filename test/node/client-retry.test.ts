import { createServer } from "node:http";
import type { AddressInfo, Server } from "node:net";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { PartyConfig } from "../../client/identity.ts";
import { createIdentity } from "../../client/identity.ts";
import { BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, backoffMs, isRetryable } from "../../client/retry.ts";
import { fetchTicket, fetchTickets } from "../../client/ticket-client.ts";
import { makeCa, offlineIdentity } from "../helpers/system.ts";

describe("retry policy", () => {
  it("doubles from BACKOFF_INITIAL_MS and never exceeds BACKOFF_MAX_MS, with half of it random", () => {
    expect(backoffMs(0, () => 0)).toBe(BACKOFF_INITIAL_MS / 2);
    expect(backoffMs(0, () => 1)).toBe(BACKOFF_INITIAL_MS);
    expect(backoffMs(3, () => 1)).toBe(BACKOFF_INITIAL_MS * 8);
    expect(backoffMs(30, () => 1)).toBe(BACKOFF_MAX_MS);
    expect(backoffMs(30, () => 0)).toBe(BACKOFF_MAX_MS / 2);
  });

  it.each([
    "DIAL_FAILED",
    "PEER_TIMEOUT",
    "TICKET_EXPIRED",
    "NO_RELAY_AVAILABLE",
    "DRAINING",
    "OVER_CAPACITY",
    "REVOCATIONS_UNKNOWN",
    "RATE_LIMITED",
    "DATABASE_UNAVAILABLE",
  ] as const)("retries %s", (code) => expect(isRetryable(code)).toBe(true));

  it.each([
    "UNKNOWN_DEST",
    "PARTY_REVOKED",
    "CONFIG_INVALID",
    "PEER_IDENTITY_MISMATCH",
    "CROSS_USER",
    "REPLACED",
    "CONNECT_TIMEOUT",
  ] as const)("never retries %s", (code) => expect(isRetryable(code)).toBe(false));
});

describe("ticket requests", () => {
  let identity: PartyConfig;
  let server: Server;
  let answer: (body: string, contentType: string | undefined) => [number, string];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        const [status, text] = answer(body, req.headers["content-type"]);
        res.writeHead(status, { "content-type": "application/json" }).end(text);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    identity = createIdentity(
      await offlineIdentity(
        "acme",
        "alice",
        { relayCa: await makeCa("r"), userCa: await makeCa("u") },
        { url },
      ),
    );
    return () => new Promise<void>((resolve) => server.close(() => resolve()));
  });
  afterEach(() => {
    answer = () => [500, ""];
  });

  it("sends a signed request and returns the ticket", async () => {
    const ticket = {
      ticket: "t",
      expiresAt: "2030-01-01T00:00:00Z",
      pair: "p",
      role: "client",
      peer: "acme/bob",
      relay: { name: "r1", hosts: ["127.0.0.1"], port: 6000 },
    };
    let seen: { body: string; type: string | undefined } | undefined;
    answer = (body, type) => {
      seen = { body, type };
      return [200, JSON.stringify(ticket)];
    };
    expect(await fetchTicket(identity, { dest: "bob" })).toEqual(ticket);
    expect(seen?.type).toBe("application/jose");
    expect(seen?.body.split(".")).toHaveLength(3);
  });

  it("asks for several peers' tickets in one signed request, and checks there is one per dest", async () => {
    const ticket = (peer: string) => ({
      ticket: "t",
      expiresAt: "2030-01-01T00:00:00Z",
      pair: `p-${peer}`,
      role: "client",
      peer: `acme/${peer}`,
      relay: { name: "r1", hosts: ["127.0.0.1"], port: 6000 },
    });
    let requests = 0;
    answer = () => {
      requests++;
      return [200, JSON.stringify({ tickets: [ticket("bob"), ticket("carol")] })];
    };
    expect(await fetchTickets(identity, { dests: ["bob", "carol"] })).toEqual([
      ticket("bob"),
      ticket("carol"),
    ]);
    expect(requests).toBe(1);
    await expect(fetchTickets(identity, { dests: ["bob", "carol", "dave"] })).rejects.toMatchObject({
      code: "INTERNAL",
      message: expect.stringContaining("unknown shape"),
    });
  });

  it("raises the worker's error code and sentence", async () => {
    answer = () => [404, JSON.stringify({ error: "No party bob for acme.", code: "UNKNOWN_DEST" })];
    await expect(fetchTicket(identity, { dest: "bob" })).rejects.toMatchObject({
      code: "UNKNOWN_DEST",
      message: "No party bob for acme.",
    });
  });

  it("raises INTERNAL with the status for an answer that is not a Flock error", async () => {
    answer = () => [502, "<html>bad gateway</html>"];
    await expect(fetchTicket(identity, { dest: "bob" })).rejects.toMatchObject({
      code: "INTERNAL",
      message: expect.stringContaining("HTTP 502"),
    });
  });

  it("gives up on a worker that does not answer within the request timeout", async () => {
    answer = () => [200, ""];
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      await expect(fetchTicket({ ...identity, url }, { dest: "bob" }, undefined, 200)).rejects.toMatchObject({
        code: "DIAL_FAILED",
        message: expect.stringContaining("no answer within 200 ms"),
      });
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("gives up on a worker that stalls in the middle of its answer", async () => {
    const stalling = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" }).write('{"ticket":');
    });
    await new Promise<void>((resolve) => stalling.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(stalling.address() as AddressInfo).port}`;
      await expect(fetchTicket({ ...identity, url }, { dest: "bob" }, undefined, 200)).rejects.toMatchObject({
        code: "DIAL_FAILED",
        message: expect.stringContaining("no answer within 200 ms"),
      });
    } finally {
      stalling.closeAllConnections();
      await new Promise((resolve) => stalling.close(resolve));
    }
  });

  it("asks over node:http, not fetch, and reuses one connection for consecutive requests", async () => {
    const viaFetch = vi.spyOn(globalThis, "fetch");
    let connections = 0;
    const count = () => connections++;
    server.on("connection", count);
    try {
      answer = () => [404, JSON.stringify({ error: "No party bob for acme.", code: "UNKNOWN_DEST" })];
      for (let i = 0; i < 3; i++) {
        await expect(fetchTicket(identity, { dest: "bob" })).rejects.toMatchObject({ code: "UNKNOWN_DEST" });
      }
      expect(connections).toBeLessThanOrEqual(1);
      expect(viaFetch).not.toHaveBeenCalled();
    } finally {
      server.off("connection", count);
      viaFetch.mockRestore();
    }
  });

  it("raises DIAL_FAILED when the worker cannot be reached", async () => {
    const gone = createIdentity({ ...identity, url: "http://127.0.0.1:1" });
    await expect(fetchTicket(gone, { dest: "bob" })).rejects.toMatchObject({ code: "DIAL_FAILED" });
  });
});
