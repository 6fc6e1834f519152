import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RELAY_LIVE_SECONDS } from "../../../protocol/api.ts";
import { parsePageQuery } from "../../../worker/db/pagination.ts";
import { findRelay, findRelayByFingerprint, insertRelay, listRelays } from "../../../worker/db/relays.ts";
import { listLiveRelays, recordRelayReport } from "../support/registry-rows.ts";

const T0 = 1_800_000_000;

function relay(name: string) {
  return {
    name,
    hosts: ["127.0.0.1", "relay.example"],
    port: 6000,
    cert: `pem-${name}`,
    fingerprint: `fp-${name}`,
    notAfter: T0 + 1000,
  };
}

describe("relays queries", () => {
  it("inserts a relay that is not live until it reports", async () => {
    const info = await insertRelay(env.DB, relay("r1"), T0);
    expect(info).toEqual({
      name: "r1",
      hosts: ["127.0.0.1", "relay.example"],
      port: 6000,
      fingerprint: "fp-r1",
      createdAt: new Date(T0 * 1000).toISOString(),
      status: "active",
      live: false,
    });
    expect(await findRelayByFingerprint(env.DB, "fp-r1")).toMatchObject({ name: "r1", cert: "pem-r1" });
    await expect(insertRelay(env.DB, { ...relay("r1"), fingerprint: "x" }, T0)).rejects.toMatchObject({
      code: "RELAY_EXISTS",
    });
  });

  it("is live for RELAY_LIVE_SECONDS after a report, then not", async () => {
    await insertRelay(env.DB, relay("r2"), T0);
    const load = { activePairs: 3, waitingSides: 1, bytesPerSecond: 1e6, capacity: 100 };
    await recordRelayReport(env.DB, "r2", load, T0 + 100);
    expect((await listLiveRelays(env.DB, T0 + 100 + RELAY_LIVE_SECONDS - 1)).map((r) => r.name)).toEqual([
      "r2",
    ]);
    expect(await listLiveRelays(env.DB, T0 + 100 + RELAY_LIVE_SECONDS)).toEqual([]);
    expect(await findRelay(env.DB, "r2")).toMatchObject({
      last_report_at: T0 + 100,
      load: JSON.stringify(load),
    });
    const page = await listRelays(env.DB, parsePageQuery(undefined, undefined, 1), T0 + 101);
    expect(page.items.find((r) => r.name === "r2")).toMatchObject({
      live: true,
      load,
      lastReportAt: new Date((T0 + 100) * 1000).toISOString(),
    });
  });

  it("pages relays by name", async () => {
    await insertRelay(env.DB, relay("r3"), T0);
    const first = await listRelays(env.DB, parsePageQuery("2", undefined, 1), T0);
    expect(first.items.map((r) => r.name)).toEqual(["r1", "r2"]);
    const second = await listRelays(env.DB, parsePageQuery("2", first.nextCursor, 1), T0);
    expect(second).toEqual({ items: [expect.objectContaining({ name: "r3" })] });
  });
});
