import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { IdentityMaterials } from "../../client/identity.ts";
import { spawnFlock } from "../helpers/run-flock.ts";
import { identityEnv } from "../helpers/system.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * Whole processes, as users run them: `flock connect` on both sides, data planes in their
 * own processes, and SIGKILL for the crashes (no close_notify, no END, no goodbye).
 */
const MiB = 1024 * 1024;
/** About 6 s here, three processes on two cores; FLOCK_TEST_STREAM_MB picks another size. */
const BIG_BYTES = Number(process.env.FLOCK_TEST_STREAM_MB ?? 256) * MiB;
const BIG_TEST_TIMEOUT_MS = 240_000;

const fx = useSystemWithPair({ dataPlane: false });
let channels = 0;
const processes: ChildProcess[] = [];

afterEach(() => {
  for (const p of processes.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
});

interface Exited {
  code: number | null;
  stderr: string;
}

/** `flock connect` for `identity`, stdout hashed; resolves when it exits. */
function flockConnect(identity: IdentityMaterials, channel: string, extra: string[] = []) {
  const child = spawnFlock(
    ["connect", "--channel", channel, ...extra],
    fx.system.certsDir,
    identityEnv(identity),
  );
  processes.push(child);
  const hash = createHash("sha256");
  let received = 0;
  const progress: Array<{ at: number; then: () => void }> = [];
  child.stdout?.on("data", (c: Buffer) => {
    hash.update(c);
    received += c.length;
    for (const p of progress.splice(0)) {
      if (received >= p.at) p.then();
      else progress.push(p);
    }
  });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<Exited>((resolve) => child.on("close", (code) => resolve({ code, stderr })));
  return {
    child,
    exited,
    received: () => received,
    sha256: () => hash.digest("hex"),
    stderr: () => stderr,
    /** Runs `then` once `bytes` have come out on stdout. */
    after: (bytes: number, then: () => void) => progress.push({ at: bytes, then }),
  };
}

/** Writes `bytes` random bytes to `stdin` with backpressure and ends it; answers their sha256. */
async function feed(stdin: NodeJS.WritableStream, bytes: number): Promise<string> {
  const hash = createHash("sha256");
  for (let sent = 0; sent < bytes; sent += MiB) {
    const chunk = randomBytes(Math.min(MiB, bytes - sent));
    hash.update(chunk);
    if (!stdin.write(chunk)) await new Promise((resolve) => stdin.once("drain", resolve));
  }
  stdin.end();
  return hash.digest("hex");
}

describe("flock connect across crashes", () => {
  it("a sender killed with SIGKILL: the receiver fails with STREAM_TRUNCATED (exit 3) and says how many bytes arrived", async () => {
    await fx.system.startDataPlane("crash-1");
    const channel = `crash-${++channels}`;
    const sender = flockConnect(fx.alice, channel, ["--quiet"]);
    const receiver = flockConnect(fx.bob, channel, ["--resume-deadline", "1500"]);
    receiver.child.stdin?.end();
    sender.child.stdin?.on("error", () => {});
    receiver.after(2 * MiB, () => sender.child.kill("SIGKILL"));
    void feed(sender.child.stdin as NodeJS.WritableStream, 64 * MiB).catch(() => {});
    const { code, stderr } = await receiver.exited;
    expect(code).toBe(3);
    expect(stderr).toContain("STREAM_TRUNCATED");
    expect(stderr).toContain(
      `${receiver.received()} bytes from the peer arrived without its end-of-stream frame`,
    );
    expect(receiver.received()).toBeLessThan(64 * MiB);
  });

  it(
    `${BIG_BYTES / MiB} MB byte-exact while the data plane carrying it is killed and another runs; both exit 0`,
    async () => {
      const planes = new Map<string, ChildProcess>();
      for (const name of ["big-1", "big-2"]) planes.set(name, await fx.system.startDataPlaneProcess(name));
      const channel = `big-${++channels}`;
      const sender = flockConnect(fx.alice, channel);
      const receiver = flockConnect(fx.bob, channel);
      receiver.child.stdin?.end();
      let killed: string | undefined;
      receiver.after(BIG_BYTES / 4, () => {
        killed = /connected to acme\/alice through (\S+)/.exec(receiver.stderr())?.[1];
        planes.get(killed ?? "")?.kill("SIGKILL");
      });
      const sent = await feed(sender.child.stdin as NodeJS.WritableStream, BIG_BYTES);
      const [atSender, atReceiver] = await Promise.all([sender.exited, receiver.exited]);
      expect(killed).toBeDefined();
      expect(planes.get(killed ?? "")?.signalCode).toBe("SIGKILL");
      expect([atSender.code, atReceiver.code]).toEqual([0, 0]);
      expect(receiver.received()).toBe(BIG_BYTES);
      expect(receiver.sha256()).toBe(sent);
      expect(atReceiver.stderr).toMatch(/resumed after \d+ ms/);
    },
    BIG_TEST_TIMEOUT_MS,
  );
});
