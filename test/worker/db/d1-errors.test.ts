import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { isDatabaseUnavailable } from "../../../worker/db/d1-errors.ts";

async function errorOf(sql: string): Promise<unknown> {
  try {
    await env.DB.prepare(sql).run();
  } catch (error) {
    return error;
  }
  throw new Error(`${sql} did not fail`);
}

describe("isDatabaseUnavailable", () => {
  it("is true for D1 failing to answer", () => {
    for (const message of [
      "D1_ERROR: Network connection lost.",
      "D1_ERROR: D1 DB is overloaded. Too many requests queued.",
      "D1_ERROR: Internal error while starting up D1 DB storage caused object to be reset.",
    ]) {
      expect(isDatabaseUnavailable(new Error(message)), message).toBe(true);
    }
  });

  it("is false for SQLite refusing a statement (our bug) and for errors that are not D1's", async () => {
    expect(isDatabaseUnavailable(await errorOf("SELEC 1"))).toBe(false);
    expect(isDatabaseUnavailable(await errorOf("INSERT INTO users (name) VALUES (NULL)"))).toBe(false);
    expect(isDatabaseUnavailable(new Error("Network connection lost."))).toBe(false);
    expect(isDatabaseUnavailable("D1_ERROR: not an Error")).toBe(false);
  });
});
