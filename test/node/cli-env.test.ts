import "reflect-metadata";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readPartyConfig } from "../../cli/commands/env.ts";
import { CORRUPTIBLE_FILES, makeCertsDir, makeCorruptCertsDir } from "../helpers/certs-dir.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "flock-env-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** No worker is asked: the URL is only checked to be one. */
const URL = "http://127.0.0.1:9";

describe("flock env reads the party's files from certs/", () => {
  it("checks them as a function checks its environment", async () => {
    const root = await makeCertsDir(dir);
    expect(await readPartyConfig({ user: "u", party: "new", url: URL, certsDir: root })).toMatchObject({
      user: "u",
      party: "new",
    });
  });

  it.each(
    CORRUPTIBLE_FILES,
  )("names %s that does not parse by its path, with CONFIG_INVALID", async (_, pathOf, kind) => {
    const { root, refusal } = await makeCorruptCertsDir(dir, pathOf, kind);
    await expect(
      readPartyConfig({ user: "u", party: "new", url: URL, certsDir: root }),
    ).rejects.toMatchObject(refusal);
  });
});
