import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { loginToken } from "../../cli/commands/login.ts";

const piped = (text: string) => Object.assign(Readable.from([text]), { isTTY: false });
const terminal = () => Object.assign(Readable.from([]), { isTTY: true });

describe("flock login token source", () => {
  it("prefers --token, then FLOCK_TOKEN, then a piped stdin line", async () => {
    expect(await loginToken("flag", { FLOCK_TOKEN: "env" }, piped("stdin\n"))).toBe("flag");
    expect(await loginToken(undefined, { FLOCK_TOKEN: "env" }, piped("stdin\n"))).toBe("env");
    expect(await loginToken(undefined, {}, piped("  from-stdin\n"))).toBe("from-stdin");
  });

  it("asks for the token instead of waiting on a terminal", async () => {
    await expect(loginToken(undefined, {}, terminal())).rejects.toThrow("FLOCK_TOKEN or on stdin");
  });
});
