import { access, constants, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IDENTITY_ENV } from "../../client/identity.ts";
import { runProgram } from "../helpers/client-package.ts";
import type { Running } from "../helpers/long-running.ts";
import { startEchoBehindTunnel } from "../helpers/long-running.ts";
import { FLOCK_BIN } from "../helpers/run-flock.ts";
import type { FlockSystem } from "../helpers/system.ts";
import { identityEnv, startSystem } from "../helpers/system.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const ENTRYPOINT = join(REPO, "examples/docker-function/entrypoint.sh");
/** Every image this repository builds; the build context is the repository root for all. */
const DOCKERFILES = [
  "examples/docker-function/Dockerfile",
  "docker/dataplane.Dockerfile",
  "docker/function.Dockerfile",
  "docker/control.Dockerfile",
];

interface Copy {
  from?: string;
  sources: string[];
  target: string;
}

/** COPY instructions, by stage; enough of the Dockerfile grammar for the files above. */
function parseDockerfile(text: string): { stages: string[]; copies: Copy[]; entrypoint?: string[] } {
  const stages: string[] = [];
  const copies: Copy[] = [];
  let entrypoint: string[] | undefined;
  for (const line of text.split("\n").map((l) => l.trim())) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) stages.push(from[1] ?? `#${stages.length}`);
    const copy = /^COPY\s+(?:--from=(\S+)\s+)?(.+)$/i.exec(line);
    if (copy) {
      const words = (copy[2] as string).split(/\s+/);
      copies.push({
        ...(copy[1] ? { from: copy[1] } : {}),
        sources: words.slice(0, -1),
        target: words.at(-1) as string,
      });
    }
    const entry = /^ENTRYPOINT\s+(\[.*\])$/i.exec(line);
    if (entry) entrypoint = JSON.parse(entry[1] as string);
  }
  return { stages, copies, entrypoint };
}

describe("Dockerfiles (no Docker engine here: what can be checked without one)", () => {
  it.each(DOCKERFILES)("%s copies only what exists, from earlier stages", async (file) => {
    const { stages, copies } = parseDockerfile(await readFile(join(REPO, file), "utf8"));
    const ignored = (await readFile(join(REPO, ".dockerignore"), "utf8")).split("\n").filter(Boolean);
    for (const copy of copies) {
      if (copy.from) {
        expect(stages.slice(0, -1)).toContain(copy.from);
        continue;
      }
      for (const source of copy.sources) {
        await access(join(REPO, source));
        expect(ignored).not.toContain(source.split("/")[0]);
      }
    }
  });

  it("docker/function.Dockerfile starts node with the old generation's floor, on its command line", async () => {
    const text = await readFile(join(REPO, "docker/function.Dockerfile"), "utf8");
    const cmd = /^CMD\s+(\[.*\])$/m.exec(text)?.[1];
    expect(JSON.parse(cmd as string)).toEqual([
      "node",
      "--initial-old-space-size=64",
      "bin/flock.js",
      "connect",
    ]);
  });

  it("the example's entrypoint is copied to where ENTRYPOINT runs it, executable, valid sh", async () => {
    const { copies, entrypoint } = parseDockerfile(
      await readFile(join(REPO, "examples/docker-function/Dockerfile"), "utf8"),
    );
    expect(entrypoint).toEqual(["/app/examples/docker-function/entrypoint.sh"]);
    expect(copies).toContainEqual({
      sources: ["examples/docker-function/entrypoint.sh"],
      target: "./examples/docker-function/entrypoint.sh",
    });
    await access(ENTRYPOINT, constants.X_OK);
    await runProgram("sh", ["-n", ENTRYPOINT]);
  });
});

describe("examples/docker-function/entrypoint.sh with the seed's environment", { timeout: 120_000 }, () => {
  let system: FlockSystem;
  let seedEnv: Record<string, string>;
  const running: Running[] = [];

  beforeAll(async () => {
    system = await startSystem();
    await system.createUser("acme");
    seedEnv = identityEnv(await system.party("acme", "fn", "svc"));
    running.push(
      ...(await startEchoBehindTunnel(FLOCK_BIN, identityEnv(await system.party("acme", "svc", "fn")))),
    );
  }, 120_000);
  afterAll(async () => {
    for (const process of running.reverse()) await process.stop();
    await system?.stop();
  });

  it("runs the Python function through flock tunnel, configured by one variable per PEM and DEST", async () => {
    expect(Object.keys(seedEnv).sort()).toEqual(Object.values(IDENTITY_ENV).sort());
    const stdout = await runProgram(ENTRYPOINT, ["--connections", "3", "--bytes", "50000"], {
      env: { PATH: process.env.PATH, ...seedEnv },
    });
    expect(JSON.parse(stdout)).toEqual({ connections: 3, bytes: 150_003, byteExact: true });
  });

  it("names a missing variable and fails before starting anything", async () => {
    const { USER_CA: _omitted, ...partial } = seedEnv;
    await expect(runProgram(ENTRYPOINT, [], { env: { PATH: process.env.PATH, ...partial } })).rejects.toThrow(
      "USER_CA is not set",
    );
  });
});
