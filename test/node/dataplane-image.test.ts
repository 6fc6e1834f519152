import { spawn } from "node:child_process";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { closeAllParties, TestParty } from "../helpers/dataplane-client.ts";
import { issueParty, issueRelay, makeCa } from "../helpers/dataplane-fixtures.ts";
import { NO_WORKER, RELAY_NAME, relayFolder, relayListening } from "../helpers/relay-process.ts";

/**
 * The data plane image's command, run here without a Docker engine: in a folder laid out as
 * the image's /app, with the image's environment. A relay in use needs V8's old generation
 * held up, which only node's command line can do (docs/deploying.md, "V8's old generation").
 */
const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** What the image sets RELAY_OLD_SPACE_MB to (docs/deploying.md, "V8's old generation"). */
const IMAGE_OLD_SPACE_MB = "64";

/** The final stage's ENV settings and CMD, enough of the Dockerfile grammar for this file. */
function imageCommand(): { env: Record<string, string>; cmd: string[] } {
  const text = readFileSync(join(REPO, "docker/dataplane.Dockerfile"), "utf8");
  const finalStage = text.slice(text.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  let cmd: string[] = [];
  for (const line of finalStage.split("\n")) {
    const settings = /^ENV\s+(.+)$/.exec(line);
    for (const setting of settings?.[1]?.split(/\s+/) ?? []) {
      const [name, value] = setting.split("=", 2);
      env[name as string] = value ?? "";
    }
    const command = /^CMD\s+(\[.*\])$/.exec(line);
    if (command) cmd = JSON.parse(command[1] as string);
  }
  return { env, cmd };
}

/** A process's argv, from /proc: what the kernel runs under that pid. */
function argvOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
}

describe("docker/dataplane.Dockerfile's command", () => {
  afterEach(closeAllParties);

  it.each([
    ["by default", {}, IMAGE_OLD_SPACE_MB],
    ["with RELAY_OLD_SPACE_MB=0 (V8's defaults)", { RELAY_OLD_SPACE_MB: "0" }, "0"],
  ])("runs the relay as node itself, the old generation's size on its command line, %s; SIGTERM drains it to exit 0", async (_, override, mb) => {
    const { env, cmd } = imageCommand();
    expect(env.RELAY_OLD_SPACE_MB).toBe(IMAGE_OLD_SPACE_MB);
    const [shell, ...args] = cmd;
    const script = args.at(-1) as string;
    // Here it listens on loopback only, as every test server does.
    expect(script).toContain("--host 0.0.0.0");
    const ca = await makeCa("Image Command CA");
    const [relay, alice] = await Promise.all([issueRelay(ca, RELAY_NAME), issueParty(ca, "image", "a")]);
    const dir = await relayFolder({ relayCaPem: ca.certPem, certPem: relay.certPem, keyPem: relay.keyPem });
    symlinkSync(join(REPO, "bin"), join(dir, "bin"));
    const child = spawn(
      shell as string,
      [...args.slice(0, -1), script.replace("--host 0.0.0.0", "--host 127.0.0.1")],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          ...env,
          RELAY_NAME,
          RELAY_PORT: "0",
          METRICS_PORT: "0",
          FLOCK_URL: NO_WORKER,
          ...override,
        },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const running = await relayListening(child, dir);
    try {
      const argv = argvOf(child.pid as number);
      expect(argv[0]).toMatch(/node$/);
      expect(argv.slice(1, 3)).toEqual([`--initial-old-space-size=${mb}`, "bin/flock.js"]);
      // A side waiting for its peer: the relay serves, and its drain has a side to refuse.
      const party = await TestParty.dial({ transport: "tcp", port: running.port, relayCaPem: ca.certPem });
      await party.sendDirect("b", "t", alice);
      expect(await party.frame()).toEqual({ type: "waiting" });
      const exited = new Promise((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal })),
      );
      child.kill("SIGTERM");
      expect(await party.errorCode()).toBe("DRAINING");
      expect(await exited).toEqual({ code: 0, signal: null });
    } finally {
      await running.stop();
    }
  });

  it("is how docker/compose.yaml starts its relays too", () => {
    const compose = readFileSync(join(REPO, "docker/compose.yaml"), "utf8");
    const relayCommands = compose.split("\n").filter((line) => line.includes("relay start"));
    expect(relayCommands).toHaveLength(2);
    for (const line of relayCommands) {
      expect(line).toContain(
        "exec node --initial-old-space-size=$$RELAY_OLD_SPACE_MB bin/flock.js relay start",
      );
    }
  });
});
