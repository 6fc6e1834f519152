import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  MAX_CACHED_REVOCATION_LISTS,
  REVOCATION_LIST_MAX_AGE_MS,
  revocationsOf,
} from "../../client/revocation-list.ts";
import { signRevocationList } from "../../protocol/revocation-list.ts";
import { makeCa, type TestCa } from "../helpers/system.ts";

/** A worker double serving one signed list per user, counting requests. */
let server: Server;
let url: string;
let ca: TestCa;
let rogue: TestCa;
const lists = new Map<string, string | null>();
const asked: string[] = [];
let failing = false;

const sign = (signer: TestCa, user: string, seq: number, parties: string[]) =>
  signRevocationList(signer.key.keys.privateKey, "ES256", { user, seq, iat: 1_800_000_000, parties });

const identity = (user: string) => ({ url, user, userCa: ca.pem });
const names = (set: ReadonlySet<string>) => [...set].sort();

beforeAll(async () => {
  ca = await makeCa("acme");
  rogue = await makeCa("rogue");
  server = createServer((req, res) => {
    const user = /^\/v1\/users\/([^/]+)\/revocations$/.exec(req.url ?? "")?.[1] ?? "";
    asked.push(user);
    if (failing) return void res.writeHead(500).end("down");
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ list: lists.get(user) ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
afterEach(() => {
  vi.useRealTimers();
  failing = false;
  asked.length = 0;
});

describe("the SDK's revocation lists", () => {
  it("fetch once per REVOCATION_LIST_MAX_AGE_MS, one request for concurrent connections", async () => {
    lists.set("fresh", await sign(ca, "fresh", 1, ["p1"]));
    vi.useFakeTimers({ toFake: ["Date"] });
    const [a, b] = await Promise.all([revocationsOf(identity("fresh")), revocationsOf(identity("fresh"))]);
    expect(names(a.revoked)).toEqual(["p1"]);
    expect(b.revoked).toBe(a.revoked);
    expect(a.problem).toBeUndefined();
    lists.set("fresh", await sign(ca, "fresh", 2, ["p1", "p2"]));
    vi.advanceTimersByTime(REVOCATION_LIST_MAX_AGE_MS - 1);
    expect(names((await revocationsOf(identity("fresh"))).revoked)).toEqual(["p1"]);
    expect(asked).toEqual(["fresh"]);
    vi.advanceTimersByTime(1);
    expect(names((await revocationsOf(identity("fresh"))).revoked)).toEqual(["p1", "p2"]);
    expect(asked).toEqual(["fresh", "fresh"]);
  });

  it("read no list as no revocations", async () => {
    expect(await revocationsOf(identity("never-published"))).toEqual({
      revoked: new Set(),
      fetchedAt: expect.any(Number),
    });
  });

  it("never trade a list for an older one, nor for none", async () => {
    lists.set("rollback", await sign(ca, "rollback", 5, ["p5"]));
    vi.useFakeTimers({ toFake: ["Date"] });
    await revocationsOf(identity("rollback"));
    for (const older of [await sign(ca, "rollback", 4, []), null]) {
      lists.set("rollback", older);
      vi.advanceTimersByTime(REVOCATION_LIST_MAX_AGE_MS);
      expect(names((await revocationsOf(identity("rollback"))).revoked)).toEqual(["p5"]);
    }
    expect(asked).toHaveLength(3);
  });

  it("keep the last verified list, and say so, when the worker fails or serves a list the user CA did not sign", async () => {
    lists.set("flaky", await sign(ca, "flaky", 1, ["p1"]));
    vi.useFakeTimers({ toFake: ["Date"] });
    const first = await revocationsOf(identity("flaky"));
    vi.advanceTimersByTime(REVOCATION_LIST_MAX_AGE_MS);
    failing = true;
    expect(await revocationsOf(identity("flaky"))).toEqual({
      revoked: first.revoked,
      fetchedAt: first.fetchedAt,
      problem: expect.objectContaining({ code: "INTERNAL" }),
    });
    failing = false;
    lists.set("flaky", await sign(rogue, "flaky", 9, []));
    expect(await revocationsOf(identity("flaky"))).toMatchObject({
      revoked: first.revoked,
      problem: { code: "BAD_SIGNATURE" },
    });
  });

  it("without any list verified yet, check against none and say why", async () => {
    lists.set("forged", await sign(rogue, "forged", 1, []));
    expect(await revocationsOf(identity("forged"))).toEqual({
      revoked: new Set(),
      problem: expect.objectContaining({ code: "BAD_SIGNATURE" }),
    });
    const closed = { ...identity("unreachable"), url: "http://127.0.0.1:9" };
    expect(await revocationsOf(closed)).toEqual({
      revoked: new Set(),
      problem: expect.objectContaining({ code: "DIAL_FAILED" }),
    });
  });

  it("remember MAX_CACHED_REVOCATION_LISTS users, dropping the oldest", async () => {
    const users = Array.from({ length: MAX_CACHED_REVOCATION_LISTS + 1 }, (_, i) => `many-${i}`);
    for (const user of users) await revocationsOf(identity(user));
    await revocationsOf(identity(users.at(-1) as string));
    expect(asked).toHaveLength(users.length);
    await revocationsOf(identity(users[0] as string));
    expect(asked).toHaveLength(users.length + 1);
  });
});
