import { env, SELF } from "cloudflare:test";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { Page, TicketInfo, TicketResponse } from "../../../protocol/api.ts";
import { toBase64Url } from "../../../protocol/encoding.ts";
import {
  admin,
  BASE,
  createParty,
  createRelay,
  createUser,
  expectError,
  reportLoad,
  requestTicket,
  type Signer,
} from "../support/fixtures.ts";

async function auditPage(path: string): Promise<Page<TicketInfo>> {
  const res = await admin(path);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Page<TicketInfo>;
}

async function issue(party: Signer, dest: string, channel: string): Promise<string> {
  const res = await requestTicket(party, dest, channel);
  expect(res.status).toBe(200);
  return String(decodeJwt(((await res.json()) as TicketResponse).ticket).jti);
}

describe("GET /v1/users/:user/tickets (the ticket audit)", () => {
  const issued: string[] = [];

  beforeAll(async () => {
    await createUser("carol");
    await createUser("dave");
    const c1 = await createParty("carol", "c1");
    const c2 = await createParty("carol", "c2");
    const d1 = await createParty("dave", "d1");
    await createParty("dave", "d2");
    expect((await reportLoad(await createRelay("audit-relay"))).status).toBe(200);
    for (let i = 0; i < 3; i++) issued.push(await issue(c1, "c2", `ch${i}`));
    issued.push(await issue(c2, "c1", "ch0"));
    await issue(d1, "d2", "ch0");
    // Spread issue times so "newest first" is not decided by the jti tie-break alone.
    for (const [i, jti] of issued.entries()) {
      await env.DB.prepare("UPDATE tickets SET issued_at = ? WHERE jti = ?")
        .bind(1_800_000_000 + i, jti)
        .run();
    }
  });

  it("lists a user's tickets newest first, with who asked, for whom and on which relay", async () => {
    const page = await auditPage("/v1/users/carol/tickets");
    expect(page.items.map((t) => t.jti)).toEqual([...issued].reverse());
    expect(page.items[0]).toEqual({
      jti: issued[3],
      user: "carol",
      party: "c2",
      dest: "c1",
      pair: expect.stringMatching(/^[A-Za-z0-9_-]+$/),
      relay: "audit-relay",
      issuedAt: new Date((1_800_000_000 + 3) * 1000).toISOString(),
      expiresAt: expect.any(String),
    });
    expect(page.nextCursor).toBeUndefined();
  });

  it("narrows to one party", async () => {
    const page = await auditPage("/v1/users/carol/parties/c1/tickets");
    expect(page.items.map((t) => t.jti)).toEqual(issued.slice(0, 3).reverse());
    expect(page.items.every((t) => t.party === "c1")).toBe(true);
  });

  it("pages with a cursor without skipping or repeating a row", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await auditPage(
        `/v1/users/carol/tickets?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      seen.push(...page.items.map((t) => t.jti));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual([...issued].reverse());
  });

  it("never shows another user's tickets", async () => {
    const dave = await auditPage("/v1/users/dave/tickets");
    expect(dave.items).toHaveLength(1);
    expect(dave.items[0]?.user).toBe("dave");
    expect(dave.items.some((t) => issued.includes(t.jti))).toBe(false);
  });

  it("needs the admin token", async () => {
    await expectError(await SELF.fetch(`${BASE}/v1/users/carol/tickets`), 401, "UNAUTHENTICATED");
  });

  it("refuses a bad limit, a forged cursor and a bad name with 400", async () => {
    await expectError(await admin("/v1/users/carol/tickets?limit=0"), 400, "BAD_REQUEST");
    const forged = toBase64Url(new TextEncoder().encode(JSON.stringify(["not-a-time", "x"])));
    await expectError(await admin(`/v1/users/carol/tickets?cursor=${forged}`), 400, "BAD_REQUEST");
    await expectError(await admin("/v1/users/carol/parties/c..1/tickets"), 400, "INVALID_NAME");
  });
});
