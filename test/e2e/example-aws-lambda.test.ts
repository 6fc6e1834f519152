import { execFileSync } from "node:child_process";
import { cp, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { encodeIdentityBundle } from "../../client/identity.ts";
import { runProgram } from "../helpers/client-package.ts";
import { installFakeSecretsManager } from "../helpers/fake-secrets-manager.ts";
import type { FlockSystem } from "../helpers/system.ts";
import { startSystem } from "../helpers/system.ts";

const ZIP_SCRIPT = fileURLToPath(new URL("../../examples/aws-lambda/zip.sh", import.meta.url));
const hasZipTools = ["zip", "unzip"].every((tool) => {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
});

/**
 * Lambda's part, played by hand: load the handler from the unzipped package in a fresh
 * process (a cold start) and call it with an event and a context that has what the handler
 * uses. The result goes to stdout as JSON.
 */
const INVOKE = `
const { handler } = await import(process.env.HANDLER_URL);
const started = Date.now();
const context = {
  functionName: "flock-example",
  awsRequestId: "req-1",
  getRemainingTimeInMillis: () => 30_000 - (Date.now() - started),
};
process.stdout.write(JSON.stringify(await handler(JSON.parse(process.env.EVENT), context)));
`;

describe.skipIf(!hasZipTools)("examples/aws-lambda", { timeout: 120_000 }, () => {
  let system: FlockSystem;
  let work: string;
  let task: string;
  let fn: IdentityMaterials;
  let peer: IdentityMaterials;

  beforeAll(async () => {
    system = await startSystem();
    work = await mkdtemp(join(tmpdir(), "flock-lambda-"));
    const zip = (await runProgram("sh", [ZIP_SCRIPT, join(work, "function.zip")])).trim();
    task = join(work, "task");
    await runProgram("unzip", ["-q", zip, "-d", task]);
    await system.createUser("acme");
    fn = await system.party("acme", "fn", "worker");
    peer = await system.party("acme", "worker", "fn");
  }, 120_000);
  afterAll(async () => {
    await system?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** The peer's side: reads the handler's request and answers it. */
  async function answerOnce(): Promise<void> {
    const { socket } = await openChannel({ identity: peer, dest: "fn" });
    let request = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => {
      request += chunk;
    });
    await new Promise((resolve) => socket.once("end", resolve));
    const { requestId, message } = JSON.parse(request);
    await new Promise<void>((resolve) => socket.end(`${requestId}: ${message} back`, resolve));
  }

  /**
   * One cold start in `dir` with only what Lambda would set: no NODE_OPTIONS, no path into
   * this repository. With `wrapper`, Lambda's AWS_LAMBDA_EXEC_WRAPPER: the script gets node's
   * path and node's arguments.
   */
  async function invoke(
    dir: string,
    variables: Record<string, string>,
    peerAnswers = true,
    wrapper?: string,
  ): Promise<unknown> {
    const env = {
      PATH: process.env.PATH,
      ...variables,
      HANDLER_URL: new URL(`file://${join(dir, "index.mjs")}`).href,
      EVENT: JSON.stringify({ message: "hi" }),
    };
    const answered = peerAnswers ? answerOnce() : undefined;
    const node = [process.execPath, "--input-type=module", "-e", INVOKE];
    const [program, ...args] = wrapper ? [wrapper, ...node] : node;
    const stdout = await runProgram(program as string, args, { cwd: dir, env });
    await answered;
    return JSON.parse(stdout);
  }

  it("the zip holds the handler and the SDK bundle, and the handler talks to its peer from it", async () => {
    expect((await readdir(task)).sort()).toEqual(["flock-client.mjs", "heap-floor", "index.mjs"]);
    expect(await invoke(task, { FLOCK_PARTY: encodeIdentityBundle(fn) })).toEqual({
      statusCode: 200,
      body: "req-1: hi back",
    });
  });

  it("heap-floor starts node with the old generation's floor and node's own arguments, and the handler runs under it", async () => {
    const wrapper = join(task, "heap-floor");
    expect((await stat(wrapper)).mode & 0o111).not.toBe(0);
    const argv = "process.stdout.write(JSON.stringify([process.execArgv, process.argv.slice(1)]))";
    const run = (env: Record<string, string>) =>
      runProgram(wrapper, [process.execPath, "-e", argv, "one", "two"], {
        env: { PATH: process.env.PATH, ...env },
      });
    expect(JSON.parse(await run({}))).toEqual([
      ["--initial-old-space-size=64", "-e", argv],
      ["one", "two"],
    ]);
    expect(JSON.parse(await run({ FLOCK_OLD_SPACE_FLOOR_MB: "128" }))[0][0]).toBe(
      "--initial-old-space-size=128",
    );
    expect(await invoke(task, { FLOCK_PARTY: encodeIdentityBundle(fn) }, true, wrapper)).toEqual({
      statusCode: 200,
      body: "req-1: hi back",
    });
  });

  it("reads FLOCK_PARTY from Secrets Manager when only FLOCK_PARTY_SECRET_ID is set", async () => {
    const withSdk = join(work, "task-with-aws-sdk");
    await cp(task, withSdk, { recursive: true });
    await installFakeSecretsManager(withSdk, { "flock/acme/fn": encodeIdentityBundle(fn) });
    expect(await invoke(withSdk, { FLOCK_PARTY_SECRET_ID: "flock/acme/fn" })).toEqual({
      statusCode: 200,
      body: "req-1: hi back",
    });
    await expect(invoke(withSdk, { FLOCK_PARTY_SECRET_ID: "flock/acme/nobody" }, false)).rejects.toThrow(
      "can't find the specified secret",
    );
  });
});
