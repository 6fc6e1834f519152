import { env, SELF } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Page, RelayInfo, TicketResponse } from "../../../protocol/api.ts";
import { RELAY_LIVE_SECONDS } from "../../../protocol/api.ts";
import {
  admin,
  BASE,
  createRelay,
  createUserWithParties,
  expectError,
  reportLoad,
  requestTicket,
  type Signer,
} from "../support/fixtures.ts";
import { findPairAssignment } from "../support/ticket-rows.ts";

const nowSeconds = () => Math.floor(Date.now() / 1000);

function revoke(relay: string): Promise<Response> {
  return admin(`/v1/relays/${relay}/revoke`, { method: "POST" });
}

async function revokedItem(relay: string): Promise<RelayInfo> {
  const res = await revoke(relay);
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { item: RelayInfo }).item;
}

async function ticketOf(res: Response): Promise<TicketResponse> {
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as TicketResponse;
}

/** Every relay registered so far stops being live, so each test picks its own live set. */
async function silenceRelays(): Promise<void> {
  const stale = nowSeconds() - RELAY_LIVE_SECONDS - 1;
  await env.DB.prepare("UPDATE relays SET last_report_at = ?").bind(stale).run();
}

/** Two fresh relays that have just reported, named after the test. */
async function twoLiveRelays(prefix: string): Promise<Record<string, Signer>> {
  await silenceRelays();
  const relays: Record<string, Signer> = {};
  for (const name of [`${prefix}-east`, `${prefix}-west`]) {
    relays[name] = await createRelay(name);
    expect((await reportLoad(relays[name] as Signer)).status).toBe(200);
  }
  return relays;
}

describe("POST /v1/relays/:relay/revoke", () => {
  let a: Signer;
  let b: Signer;

  beforeAll(async () => {
    [a, b] = await createUserWithParties("alice", "a", "b");
  });

  beforeEach(silenceRelays);

  it("marks the relay revoked: 200 {item} with status, revokedAt and live false; twice keeps the first time", async () => {
    const relay = await createRelay("to-revoke");
    expect((await reportLoad(relay)).status).toBe(200);
    const before = nowSeconds();
    const item = await revokedItem("to-revoke");
    expect(item).toMatchObject({
      name: "to-revoke",
      fingerprint: relay.fingerprint,
      status: "revoked",
      live: false,
      lastReportAt: expect.any(String),
    });
    const revokedAt = Date.parse(item.revokedAt ?? "") / 1000;
    expect(revokedAt).toBeGreaterThanOrEqual(before);
    expect((await revokedItem("to-revoke")).revokedAt).toBe(item.revokedAt);

    const list = (await (await admin("/v1/relays")).json()) as Page<RelayInfo>;
    expect(list.items.find((r) => r.name === "to-revoke")).toEqual(item);
  });

  it("refuses the revoked relay's signed report: 403 RELAY_REVOKED, and it stays not live", async () => {
    const relay = await createRelay("reports-after");
    await revokedItem("reports-after");
    await expectError(await reportLoad(relay), 403, "RELAY_REVOKED");
    const list = (await (await admin("/v1/relays")).json()) as Page<RelayInfo>;
    const info = list.items.find((r) => r.name === "reports-after");
    expect(info).toMatchObject({ status: "revoked", live: false });
    expect(info?.lastReportAt).toBeUndefined();
  });

  it("sends no new ticket to a revoked relay while another is live", async () => {
    const relays = await twoLiveRelays("spread");
    const [first, second] = Object.keys(relays) as [string, string];
    await revokedItem(first);
    for (let i = 0; i < 12; i++) {
      expect((await ticketOf(await requestTicket(a, "b", `spread-${i}`))).relay.name).toBe(second);
    }
  });

  it("moves a pair assigned to a relay off it once that relay is revoked", async () => {
    await twoLiveRelays("move");
    const opened = await ticketOf(await requestTicket(a, "b", "moved"));
    const assigned = opened.relay.name;
    expect((await findPairAssignment(env.DB, opened.pair, nowSeconds()))?.relay).toBe(assigned);

    await revokedItem(assigned);
    const peer = await ticketOf(await requestTicket(b, "a", "moved"));
    expect(peer.pair).toBe(opened.pair);
    expect(peer.relay.name).not.toBe(assigned);
    expect(peer.relay.name).toMatch(/^move-/);
    expect((await findPairAssignment(env.DB, opened.pair, nowSeconds()))?.relay).toBe(peer.relay.name);
    // The first side asks again and meets its peer on the new relay.
    expect((await ticketOf(await requestTicket(a, "b", "moved"))).relay.name).toBe(peer.relay.name);
  });

  it("answers 503 NO_RELAY_AVAILABLE when every live relay is revoked", async () => {
    const relays = await twoLiveRelays("all-gone");
    for (const name of Object.keys(relays)) await revokedItem(name);
    await expectError(await requestTicket(a, "b", "none-left"), 503, "NO_RELAY_AVAILABLE");
  });

  it("answers 404 RELAY_NOT_FOUND for an unknown relay and 400 INVALID_NAME for a bad one", async () => {
    await expectError(await revoke("no-such-relay"), 404, "RELAY_NOT_FOUND");
    await expectError(await revoke("bad%20name"), 400, "INVALID_NAME");
  });

  it("needs the admin token: 401 UNAUTHENTICATED, and the relay stays active", async () => {
    await createRelay("guarded");
    const attempts: Record<string, string>[] = [{}, { authorization: "Bearer not-the-token" }];
    for (const headers of attempts) {
      const res = await SELF.fetch(`${BASE}/v1/relays/guarded/revoke`, { method: "POST", headers });
      await expectError(res, 401, "UNAUTHENTICATED");
    }
    const list = (await (await admin("/v1/relays")).json()) as Page<RelayInfo>;
    expect(list.items.find((r) => r.name === "guarded")?.status).toBe("active");
  });
});
