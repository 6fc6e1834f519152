import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadTicketKeys } from "../../../worker/tickets/ticket-keys.ts";

const configured = JSON.parse(env.TICKET_KEYS) as Record<string, string>[];

describe("loadTicketKeys", () => {
  it("signs with the first key and publishes all of them", async () => {
    const keys = await loadTicketKeys(env.TICKET_KEYS);
    expect(keys.signing.kid).toBe(configured[0]?.kid);
    expect(keys.published.map((k) => k.kid)).toEqual(configured.map((k) => k.kid));
  });

  it.each([
    ["an empty list", "[]"],
    ["an object", "{}"],
    ["a public-only key", JSON.stringify([{ ...configured[0], d: undefined }])],
    ["a key without kid", JSON.stringify([{ ...configured[0], kid: undefined }])],
    ["an EC key", JSON.stringify([{ ...configured[0], crv: "P-256", kty: "EC" }])],
    ["two keys with one kid", JSON.stringify([configured[0], { ...configured[1], kid: configured[0]?.kid }])],
  ])("refuses %s", async (_what, json) => {
    await expect(loadTicketKeys(json)).rejects.toThrow(/TICKET_KEYS|ticket key/);
  });
});
