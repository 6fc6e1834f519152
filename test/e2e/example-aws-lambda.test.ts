import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openChannel } from "../../client/connect.ts";
import { encodeIdentityBundle } from "../../client/identity.ts";
import { runProgram } from "../helpers/client-package.ts";
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

  beforeAll(async () => {
    system = await startSystem();
    work = await mkdtemp(join(tmpdir(), "flock-lambda-"));
  }, 120_000);
  afterAll(async () => {
    await system?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("the zip holds the handler and the SDK bundle, and the handler talks to its peer from it", async () => {
    const zip = (await runProgram("sh", [ZIP_SCRIPT, join(work, "function.zip")])).trim();
    const task = join(work, "task");
    await runProgram("unzip", ["-q", zip, "-d", task]);
    expect((await readdir(task)).sort()).toEqual(["flock-client.mjs", "index.mjs"]);

    await system.createUser("acme");
    const fn = await system.party("acme", "fn", "worker");
    const peer = await system.party("acme", "worker", "fn");
    const answered = (async () => {
      const { socket } = await openChannel({ identity: peer, dest: "fn" });
      let request = "";
      socket.setEncoding("utf8").on("data", (chunk: string) => {
        request += chunk;
      });
      await new Promise((resolve) => socket.once("end", resolve));
      const { requestId, message } = JSON.parse(request);
      await new Promise<void>((resolve) => socket.end(`${requestId}: ${message} back`, resolve));
    })();

    // Only what Lambda would set: no NODE_OPTIONS, no path into this repository.
    const env = {
      PATH: process.env.PATH,
      FLOCK_PARTY: encodeIdentityBundle(fn),
      HANDLER_URL: new URL(`file://${join(task, "index.mjs")}`).href,
      EVENT: JSON.stringify({ message: "hi" }),
    };
    const stdout = await runProgram(process.execPath, ["--input-type=module", "-e", INVOKE], {
      cwd: task,
      env,
    });
    await answered;
    expect(JSON.parse(stdout)).toEqual({ statusCode: 200, body: "req-1: hi back" });
  });
});
