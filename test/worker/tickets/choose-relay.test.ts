import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { RELAY_LIVE_SECONDS } from "../../../protocol/api.ts";
import { highestRandomWeight } from "../../../protocol/rendezvous.ts";
import { insertRelay, type LiveRelay, type RelayRow } from "../../../worker/db/relays.ts";
import { chooseRelay, PAIR_ASSIGNMENT_SECONDS } from "../../../worker/tickets/choose-relay.ts";
import { assignAndRead } from "../support/assign-pair.ts";
import { listLiveRelays, recordRelayReport } from "../support/registry-rows.ts";
import { findPairAssignment } from "../support/ticket-rows.ts";

const T0 = 1_800_000_000;
const LOAD = { activePairs: 0, waitingSides: 0, bytesPerSecond: 0, capacity: 10 };

function row(name: string): RelayRow {
  return {
    name,
    hosts: "[]",
    port: 1,
    cert: "",
    fingerprint: name,
    not_after: T0 + 1000,
    created_at: T0,
    last_report_at: T0,
    load: null,
    status: "active",
    revoked_at: null,
  };
}

/** Where a ticket's batch puts the pair: this side's choice among `live`, kept or replaced by the assignment. */
async function place(
  pair: string,
  live: LiveRelay[],
  now: number,
  unreachable: string[] = [],
): Promise<RelayRow> {
  const wanted = await chooseRelay(pair, live, unreachable);
  return assignAndRead(pair, wanted.name, now + PAIR_ASSIGNMENT_SECONDS, now, {}, unreachable);
}

async function choose(pair: string, now: number, unreachable: string[] = []): Promise<RelayRow> {
  return place(pair, await listLiveRelays(env.DB, now), now, unreachable);
}

async function report(name: string, at: number): Promise<void> {
  await recordRelayReport(env.DB, name, LOAD, at);
}

describe("highestRandomWeight", () => {
  const pairs = Array.from({ length: 200 }, (_, i) => `pair-${i}`);

  it("is independent of the order relays are listed in", async () => {
    for (const pair of pairs.slice(0, 20)) {
      const forward = await highestRandomWeight(pair, [row("a"), row("b"), row("c")]);
      const backward = await highestRandomWeight(pair, [row("c"), row("b"), row("a")]);
      expect(forward.name).toBe(backward.name);
    }
  });

  it("moves only the pairs the new relay wins when one is added, and spreads them", async () => {
    const before = await Promise.all(
      pairs.map((p) => highestRandomWeight(p, [row("a"), row("b"), row("c")])),
    );
    const after = await Promise.all(
      pairs.map((p) => highestRandomWeight(p, [row("a"), row("b"), row("c"), row("d")])),
    );
    const moved = pairs.filter((_, i) => before[i]?.name !== after[i]?.name);
    expect(moved.every((p) => after[pairs.indexOf(p)]?.name === "d")).toBe(true);
    // About a quarter should move; bounds wide enough to never flake, tight enough to catch "all" or "none".
    expect(moved.length).toBeGreaterThan(20);
    expect(moved.length).toBeLessThan(90);
    for (const name of ["a", "b", "c"]) {
      expect(before.filter((r) => r?.name === name).length).toBeGreaterThan(30);
    }
  });
});

/** Registered relays that have not reported yet. */
async function insertRelays(names: string[]): Promise<void> {
  for (const name of names) {
    await insertRelay(
      env.DB,
      { name, hosts: ["127.0.0.1"], port: 6000, cert: "", fingerprint: `fp-${name}`, notAfter: T0 + 99_999 },
      T0,
    );
  }
}

describe("chooseRelay", () => {
  beforeAll(() => insertRelays(["r1", "r2"]));

  it("refuses with NO_RELAY_AVAILABLE when none reported within RELAY_LIVE_SECONDS", async () => {
    await report("r1", T0);
    await expect(choose("p0", T0 + RELAY_LIVE_SECONDS)).rejects.toMatchObject({
      code: "NO_RELAY_AVAILABLE",
    });
  });

  it("records the choice for PAIR_ASSIGNMENT_SECONDS and reuses it while the relay is live", async () => {
    const now = T0 + 100;
    await report("r1", now);
    await report("r2", now);
    const first = await choose("p1", now);
    expect(await findPairAssignment(env.DB, "p1", now)).toEqual({
      relay: first.name,
      expiresAt: now + PAIR_ASSIGNMENT_SECONDS,
    });
    // Whatever the hash says later, the pair stays where its first side went.
    await env.DB.prepare("UPDATE pair_assignments SET relay = ? WHERE pair = 'p1'")
      .bind(first.name === "r1" ? "r2" : "r1")
      .run();
    const second = await choose("p1", now + 1);
    expect(second.name).not.toBe(first.name);
  });

  it("meets the first side on a relay that started reporting after this side read the live set", async () => {
    const now = T0 + 300;
    await report("r1", now);
    const seenBefore = await listLiveRelays(env.DB, now);
    expect(seenBefore.map((r) => r.name)).toEqual(["r1"]);
    // r2 starts reporting, and the first side of the pair is assigned there meanwhile.
    await report("r2", now);
    await env.DB.prepare("INSERT INTO pair_assignments (pair, relay, expires_at) VALUES ('p-late', 'r2', ?)")
      .bind(now + 300)
      .run();
    expect((await place("p-late", seenBefore, now)).name).toBe("r2");
  });

  it("reassigns by hash when the assigned relay went silent", async () => {
    const now = T0 + 200;
    await report("r1", now);
    await report("r2", now);
    await env.DB.prepare("INSERT INTO pair_assignments (pair, relay, expires_at) VALUES ('p2', 'r1', ?)")
      .bind(now + 300)
      .run();
    await report("r2", now + RELAY_LIVE_SECONDS);
    const chosen = await choose("p2", now + RELAY_LIVE_SECONDS);
    expect(chosen.name).toBe("r2");
    expect((await findPairAssignment(env.DB, "p2", now + RELAY_LIVE_SECONDS))?.relay).toBe("r2");
  });
});

describe("chooseRelay and relays a side could not reach", () => {
  beforeAll(() => insertRelays(["crashed", "alive"]));

  it("moves an assigned pair off a relay the side could not reach, and the other side follows", async () => {
    const now = T0 + 500;
    await report("crashed", now);
    await report("alive", now);
    await env.DB.prepare(
      "INSERT INTO pair_assignments (pair, relay, expires_at) VALUES ('p-crash', 'crashed', ?)",
    )
      .bind(now + 300)
      .run();
    // Still live for RELAY_LIVE_SECONDS after its last report: without the hint the pair stays.
    expect((await choose("p-crash", now)).name).toBe("crashed");
    expect((await choose("p-crash", now, ["crashed"])).name).toBe("alive");
    // The other side, which has not tried the crashed relay, meets it on the new one.
    expect((await choose("p-crash", now + 1)).name).toBe("alive");
  });

  it("never picks an unreachable relay for a new pair, and says so when no other is live", async () => {
    const now = T0 + 600;
    await report("crashed", now);
    await report("alive", now);
    for (let i = 0; i < 8; i++) expect((await choose(`new-${i}`, now, ["crashed"])).name).toBe("alive");
    await expect(choose("nowhere", now, ["crashed", "alive"])).rejects.toMatchObject({
      code: "NO_RELAY_AVAILABLE",
    });
  });
});

describe("chooseRelay and load", () => {
  beforeAll(() => insertRelays(["full", "roomy", "draining"]));

  it("sends new pairs away from a relay that reported itself full, while another has room", async () => {
    const now = T0 + 1000;
    await recordRelayReport(
      env.DB,
      "full",
      { activePairs: 9, waitingSides: 2, bytesPerSecond: 0, capacity: 10 },
      now,
    );
    await recordRelayReport(env.DB, "roomy", LOAD, now);
    for (let i = 0; i < 10; i++) {
      expect((await choose(`load-${i}`, now)).name).toBe("roomy");
    }
  });

  it("still uses a full relay when every live relay is full", async () => {
    const now = T0 + 2000;
    await recordRelayReport(
      env.DB,
      "full",
      { activePairs: 10, waitingSides: 0, bytesPerSecond: 0, capacity: 10 },
      now,
    );
    expect((await choose("all-full", now)).name).toBe("full");
  });

  it("keeps a pair on its full relay (its first side waits there) but moves it off a draining one", async () => {
    const now = T0 + 3000;
    await recordRelayReport(
      env.DB,
      "full",
      { activePairs: 10, waitingSides: 0, bytesPerSecond: 0, capacity: 10 },
      now,
    );
    await recordRelayReport(env.DB, "roomy", LOAD, now);
    await env.DB.prepare(
      "INSERT INTO pair_assignments (pair, relay, expires_at) VALUES ('on-full', 'full', ?)",
    )
      .bind(now + 300)
      .run();
    expect((await choose("on-full", now)).name).toBe("full");

    await recordRelayReport(
      env.DB,
      "draining",
      { activePairs: 1, waitingSides: 1, bytesPerSecond: 0, capacity: 0 },
      now,
    );
    await env.DB.prepare(
      "INSERT INTO pair_assignments (pair, relay, expires_at) VALUES ('on-drain', 'draining', ?)",
    )
      .bind(now + 300)
      .run();
    expect((await choose("on-drain", now)).name).toBe("roomy");
  });
});
