import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  configPath,
  readConfigFile,
  resolveConfig,
  resolveWorkerUrl,
  writeConfig,
} from "../../cli/config.ts";
import { UserError } from "../../cli/output.ts";

describe("CLI config", () => {
  let cwd: string;
  beforeEach(async () => {
    cwd = await mkdtemp(join(tmpdir(), "flock-config-"));
  });
  afterEach(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  const file = { url: "http://file.test:1", token: "file-token" };
  const env = { FLOCK_URL: "http://env.test:2", FLOCK_TOKEN: "env-token" };

  it("takes flags over env over .flock/config.json, field by field", async () => {
    await writeConfig(file, cwd);
    expect(await resolveConfig({ cwd, env: {} })).toEqual(file);
    expect(await resolveConfig({ cwd, env })).toEqual({ url: "http://env.test:2", token: "env-token" });
    expect(await resolveConfig({ cwd, env, url: "http://flag.test:3" })).toEqual({
      url: "http://flag.test:3",
      token: "env-token",
    });
    expect(await resolveConfig({ cwd, env: { FLOCK_TOKEN: "t" } })).toEqual({ url: file.url, token: "t" });
  });

  it("says to run `flock dev` or `flock login` when nothing is configured", async () => {
    const attempt = resolveConfig({ cwd, env: {} });
    await expect(attempt).rejects.toThrow(UserError);
    await expect(attempt).rejects.toThrow("run `flock dev` (local) or `flock login --url URL --token TOKEN`");
    // A URL without a token is not enough for admin commands, but enough for the worker URL alone.
    await expect(resolveConfig({ cwd, env: { FLOCK_URL: "http://x.test" } })).rejects.toThrow("flock login");
    expect(await resolveWorkerUrl({ cwd, env: { FLOCK_URL: "http://x.test/" } })).toBe("http://x.test");
  });

  it("writes config.json with mode 0600, also over an older, more open file", async () => {
    await mkdir(join(cwd, ".flock"));
    await writeFile(configPath(cwd), "{}", { mode: 0o644 });
    const path = await writeConfig(file, cwd);
    expect(path).toBe(join(cwd, ".flock", "config.json"));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readConfigFile(cwd)).toEqual(file);
  });

  it("turns a broken config file or a bad URL into a user error", async () => {
    await mkdir(join(cwd, ".flock"));
    await writeFile(configPath(cwd), "{not json");
    await expect(resolveConfig({ cwd, env: {} })).rejects.toThrow("is not valid JSON");
    await expect(resolveWorkerUrl({ url: "ftp://x", env: {} })).rejects.toThrow("must be http or https");
    await expect(resolveWorkerUrl({ url: "not a url", env: {} })).rejects.toThrow("is not a URL");
  });
});
