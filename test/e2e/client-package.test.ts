import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openChannel } from "../../client/connect.ts";
import { encodeIdentityBundle } from "../../client/identity.ts";
import { packClient, runProgram } from "../helpers/client-package.ts";
import type { FlockSystem } from "../helpers/system.ts";
import { startSystem } from "../helpers/system.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const TSC = join(REPO, "node_modules", "typescript", "bin", "tsc");
/** What the SDK must never drag into a function. */
const FORBIDDEN = ["hono", "wrangler", "miniflare", "pino", "prom-client", "node-forge", "@peculiar/x509"];

const CONSUMER_JS = `
import { connect, openChannel, FlockError } from "@flock/client";
if (typeof openChannel !== "function" || typeof FlockError !== "function") throw new Error("exports missing");
const socket = await connect();
socket.end("ping from an installed package");
let reply = "";
for await (const chunk of socket) reply += chunk;
console.log(reply);
`;

const CONSUMER_TS = `
import { connect, openChannel, type Channel, type ConnectOptions, FlockError } from "@flock/client";
const options: ConnectOptions = { dest: "bob", transport: "wss", deadlineMs: 5_000 };
const channel: Channel = await openChannel(options);
const peer: string = channel.peer;
const socket = await connect({ dest: peer });
socket.write("typed");
const error = new FlockError("CONNECT_TIMEOUT", "typed");
const code: "CONNECT_TIMEOUT" | string = error.code;
// @ts-expect-error a transport the SDK does not know
await connect({ transport: "carrier-pigeon" });
export { code };
`;

describe("the SDK as an npm package", { timeout: 120_000 }, () => {
  let project: string;
  let tarball: string;
  let system: FlockSystem;

  beforeAll(async () => {
    [tarball, system] = await Promise.all([packClient(), startSystem()]);
    project = await mkdtemp(join(tmpdir(), "flock-sdk-consumer-"));
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    // Offline: the package must bring everything it needs (the registry is not asked).
    await runProgram("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: project });
  }, 120_000);
  afterAll(async () => {
    await system?.stop();
    if (project) await rm(project, { recursive: true, force: true });
  });

  it("installs from the tarball alone, with no dependency", async () => {
    expect((await readdir(join(project, "node_modules"))).sort()).toEqual([".package-lock.json", "@flock"]);
    const manifest = JSON.parse(
      await readFile(join(project, "node_modules/@flock/client/package.json"), "utf8"),
    );
    expect(manifest.dependencies).toBeUndefined();
  });

  it("bundles ws and jose and nothing the SDK does not need", async () => {
    const bundle = await readFile(join(project, "node_modules/@flock/client/flock-client.mjs"), "utf8");
    // esbuild marks each bundled module with a `// node_modules/<package>/...` comment.
    const packages = new Set(
      [...bundle.matchAll(/^\/\/ node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]),
    );
    expect([...packages].sort()).toEqual(["jose", "ws"]);
    for (const name of FORBIDDEN) expect(bundle).not.toContain(`node_modules/${name}/`);
  });

  it("connect from the installed package reaches a peer through the local system", async () => {
    await system.createUser("acme");
    const alice = await system.party("acme", "alice", "bob");
    const bob = await system.party("acme", "bob", "alice");
    await writeFile(join(project, "main.mjs"), CONSUMER_JS);
    const peer = (async () => {
      const { socket } = await openChannel({ identity: bob, dest: "alice" });
      let received = "";
      socket.setEncoding("utf8").on("data", (chunk: string) => {
        received += chunk;
      });
      // An async iterator would destroy the socket at the end of input; the answer goes after it.
      await new Promise((resolve) => socket.once("end", resolve));
      await new Promise<void>((resolve) => socket.end(`pong: ${received}`, resolve));
    })();
    const env = { PATH: process.env.PATH, FLOCK_PARTY: encodeIdentityBundle(alice) };
    const stdout = await runProgram(process.execPath, ["main.mjs"], { cwd: project, env });
    await peer;
    expect(stdout).toBe("pong: ping from an installed package\n");
  });

  it("type-checks a strict consumer against the shipped declarations", async () => {
    const typeRoots = join(project, "type-roots");
    await mkdir(typeRoots);
    await symlink(join(REPO, "node_modules", "@types", "node"), join(typeRoots, "node"));
    await writeFile(join(project, "main.ts"), CONSUMER_TS);
    await writeFile(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
          typeRoots: [typeRoots],
        },
        files: ["main.ts"],
      }),
    );
    await runProgram(process.execPath, [TSC, "-p", "."], { cwd: project });
  });
});
