/**
 * `flock add|list|remove backend`, `flock set backend-policy` and `flock create wsk-key` as a user
 * runs them, then wsk-style calls with the printed key. The older noun-verb spellings
 * (`flock backend add`, `flock wsk-key create`, ...) run the same commands.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SHARED_BACKEND_WARNING } from "../../cli/commands/backend.ts";
import type { OpenWhiskDouble } from "../helpers/openwhisk-double.ts";
import { runFlock } from "../helpers/run-flock.ts";
import { HELLO_CODE, type OpenWhiskWorld, startOpenWhiskWorld } from "./openwhisk-fixture.ts";

let world: OpenWhiskWorld;
let a: OpenWhiskDouble;

function flock(args: string[]) {
  return runFlock(args, world.stateDir, {
    FLOCK_URL: world.worker.url,
    FLOCK_TOKEN: world.worker.adminToken,
  });
}

beforeAll(async () => {
  world = await startOpenWhiskWorld(1);
  [a] = world.doubles as [OpenWhiskDouble];
  await world.addUser("dana");
});

afterAll(async () => {
  await world?.stop();
});

it("adds, lists, sets policy, issues a key that works with the openwhisk client, and removes", async () => {
  const add = await flock([
    "add",
    "backend",
    "--name",
    "east",
    "--apihost",
    a.url,
    "--auth",
    a.auth,
    "--user",
    "dana",
    "--policy",
    "least-latency",
    "--allow-private-address",
  ]);
  expect(add).toMatchObject({ code: 0, stdout: `Added backend east (${a.url}) for dana.\n` });

  const list = await flock(["list", "backends", "--json"]);
  expect(list.code).toBe(0);
  expect(list.stdout).not.toContain(a.auth.split(":")[1]);
  expect(JSON.parse(list.stdout)).toEqual([
    {
      name: "east",
      apihost: a.url,
      user: "dana",
      shared: false,
      createdAt: expect.any(String),
    },
  ]);

  const listed = await flock(["backend", "list"]);
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(
    /^NAME +APIHOST +USER +LATENCY +STATE\neast +http:\/\/127\.0\.0\.1:\d+ +dana +- +ok\n$/,
  );

  const policy = await flock(["set", "backend-policy", "--user", "dana", "--policy", "random"]);
  expect(policy).toMatchObject({ code: 0, stdout: "Routing policy of dana is now random.\n" });
  const oldPolicy = await flock(["backend", "policy", "--user", "dana", "--policy", "random", "--json"]);
  expect(oldPolicy.code).toBe(0);
  expect(JSON.parse(oldPolicy.stdout)).toEqual({ user: "dana", policy: "random" });

  const key = await flock(["create", "wsk-key", "--user", "dana"]);
  expect(key.code).toBe(0);
  const [auth, wskLine, rest] = key.stdout.split("\n");
  expect(auth).toMatch(/^[0-9a-f-]{36}:[A-Za-z0-9_-]{64}$/);
  expect(wskLine).toBe(`wsk property set --apihost ${world.worker.url} --auth ${auth}`);
  expect(rest).toBe("");

  const ow = world.client(auth ?? "");
  await ow.actions.create({ name: "cli-hello", action: HELLO_CODE });
  expect(
    await ow.actions.invoke({ name: "cli-hello", params: { name: "Dana" }, blocking: true, result: true }),
  ).toEqual({ payload: "Hello Dana" });

  const oldKey = await flock(["wsk-key", "create", "--user", "dana", "--json"]);
  expect(oldKey.code).toBe(0);
  const keys = await flock(["list", "wsk-keys", "--user", "dana", "--json"]);
  expect(JSON.parse(keys.stdout)).toHaveLength(2);
  const oldKeys = await flock(["wsk-key", "list", "--user", "dana", "--json"]);
  expect(oldKeys.stdout).toBe(keys.stdout);
  const revoked = await flock([
    "revoke",
    "wsk-key",
    "--user",
    "dana",
    "--uuid",
    JSON.parse(oldKey.stdout).uuid,
  ]);
  expect(revoked).toMatchObject({
    code: 0,
    stdout: `Revoked wsk key ${JSON.parse(oldKey.stdout).uuid} of dana.\n`,
  });

  const removed = await flock(["remove", "backend", "--name", "east"]);
  expect(removed).toMatchObject({ code: 0, stdout: "Removed backend east.\n" });
  const again = await flock(["backend", "remove", "--name", "east"]);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain("BACKEND_NOT_FOUND");
});

it("refuses an unknown policy as a usage error", async () => {
  const run = await flock(["set", "backend-policy", "--user", "dana", "--policy", "fastest"]);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain("Allowed choices are round-robin, random, least-latency");
});

describe("add backend", () => {
  const add = (name: string, ...owner: string[]) =>
    flock([
      "add",
      "backend",
      "--name",
      name,
      "--apihost",
      a.url,
      "--auth",
      a.auth,
      "--allow-private-address",
      ...owner,
    ]);

  it("refuses a backend with neither --user nor --shared, or with both, as a usage error", async () => {
    const neither = await add("nobodys");
    expect(neither).toMatchObject({ code: 2, stdout: "" });
    expect(neither.stderr).toBe("error: give --user <user>, or --shared to serve every user\n");
    const both = await add("everybodys", "--user", "dana", "--shared");
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("option '--shared' cannot be used with option '--user <user>'");
    const listed = await flock(["list", "backends", "--json"]);
    expect(listed.stdout).not.toContain("nobodys");
    expect(listed.stdout).not.toContain("everybodys");
  });

  it("has no --insecure flag: the worker cannot skip TLS verification", async () => {
    const run = await add("selfsigned", "--user", "dana", "--insecure");
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown option '--insecure'");
    expect((await flock(["list", "backends"])).stdout).not.toContain("selfsigned");
  });

  it("adds a shared backend with a warning on stderr and lists it as SHARED", async () => {
    const shared = await add("common", "--shared");
    expect(shared).toMatchObject({
      code: 0,
      stdout: `Added backend common (${a.url}) for every user (shared).\n`,
      stderr: `${SHARED_BACKEND_WARNING}\n`,
    });
    expect(SHARED_BACKEND_WARNING).toContain(
      "every user's calls reach this backend's namespace; their actions and activations are visible to each other",
    );
    const listed = await flock(["list", "backends"]);
    expect(listed.stdout).toMatch(/\ncommon +http:\/\/127\.0\.0\.1:\d+ +SHARED \(every user\) +- +ok\n/);
    const json = await flock(["list", "backends", "--json"]);
    expect(JSON.parse(json.stdout)).toContainEqual(expect.objectContaining({ name: "common", shared: true }));
    const own = await add("danas", "--user", "dana");
    expect(own).toMatchObject({ code: 0, stderr: "" });
  });
});
