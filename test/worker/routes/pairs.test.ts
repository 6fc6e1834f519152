import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { PairRelayResponse } from "../../../protocol/api.ts";
import { pairId } from "../../../protocol/ticket.ts";
import { PAIR_RELAY_PATH } from "../../../protocol/wire.ts";
import { PAIR_LOOKUP_BURST } from "../../../worker/tickets/pair-lookup-budget.ts";
import {
  BASE,
  createRelay,
  createUserWithParties,
  expectError,
  postSigned,
  reportLoad,
  requestTicket,
  type Signer,
  signAs,
} from "../support/fixtures.ts";

async function lookUp(party: Signer, body: unknown): Promise<Response> {
  return postSigned(PAIR_RELAY_PATH, await signAs(party, PAIR_RELAY_PATH, body));
}

describe(`POST ${PAIR_RELAY_PATH}`, () => {
  let alice: Signer;
  let bob: Signer;

  beforeAll(async () => {
    [alice, bob] = await createUserWithParties("pairs", "alice", "bob");
    expect((await reportLoad(await createRelay("pairs-relay"))).status).toBe(200);
  });

  it("answers 200 with the pair's id and the data plane its tickets name", async () => {
    expect((await requestTicket(bob, "alice", "route")).status).toBe(200);
    const res = await lookUp(alice, { dest: "bob", channel: "route" });
    expect(res.status).toBe(200);
    const answer: PairRelayResponse = {
      pair: await pairId("pairs", "alice", "bob", "route"),
      relay: "pairs-relay",
    };
    expect(await res.json()).toEqual(answer);
  });

  it("answers 401 BAD_SIGNATURE to an unsigned body and 405 to a GET", async () => {
    await expectError(
      await postSigned(PAIR_RELAY_PATH, JSON.stringify({ dest: "bob" })),
      401,
      "BAD_SIGNATURE",
    );
    await expectError(await SELF.fetch(`${BASE}${PAIR_RELAY_PATH}`), 405, "METHOD_NOT_ALLOWED");
  });

  it("answers a flood with 429 PAIR_LOOKUP_LIMITED and Retry-After, and other parties as before", async () => {
    const flood = await Promise.all(
      Array.from({ length: 3 * PAIR_LOOKUP_BURST }, () => lookUp(bob, { dest: "alice", channel: "flood" })),
    );
    const refused = flood.filter((res) => res.status === 429);
    // All sent at once; the bucket could refill past its burst only if they took 20 s.
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]?.headers.get("retry-after")).toBe("1");
    await expectError(refused[0] as Response, 429, "PAIR_LOOKUP_LIMITED");
    expect((await lookUp(alice, { dest: "bob", channel: "flood" })).status).toBe(200);
  });
});
