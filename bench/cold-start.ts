/**
 * What a function pays before its first byte, side by side with what it paid before the
 * build (the TypeScript sources through tsx):
 * - `flock --help`: process start to exit;
 * - SDK import: in-process import time, and a whole `node` process that imports it, beside
 *   a bare `node`;
 * - cold start to first byte: from spawning a process to the first byte from the peer
 *   reaching it, for the SDK bundle (what the packed package ships), `flock connect`, and
 *   `flock tunnel --listen` (to a peer's warm `flock tunnel --forward`), and a new connection
 *   through two tunnels already running;
 * - the bundle's size, raw and gzipped.
 * The peer answers from this process on the local system (workerd + one data plane).
 *
 * FLOCK_BENCH_COLD_RUNS (default 7): runs per variant; the median is reported.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { connect as connectTcp, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { percentile } from "../cli/commands/ping.ts";
import { openChannel } from "../client/connect.ts";
import type { IdentityMaterials } from "../client/identity.ts";
import { encodeIdentityBundle } from "../client/identity.ts";
import { buildJavaScript, CLIENT_BUNDLE } from "../scripts/build.mjs";
import { startUntil } from "../test/helpers/long-running.ts";
import { identityEnv, startSystem } from "../test/helpers/system.ts";
import type { Bench, BenchResult } from "./types.ts";

const BENCH = "cold-start";
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const FLOCK_BIN = `${ROOT}bin/flock.js`;
const TSX_CLI = ["--import", "tsx", `${ROOT}cli/main.ts`];
const RUNS = Number(process.env.FLOCK_BENCH_COLD_RUNS) > 0 ? Number(process.env.FLOCK_BENCH_COLD_RUNS) : 7;

/** Spawns `args` and resolves with ms from the spawn to the first stdout byte (or to exit, for `untilExit`). */
function timeChild(
  args: string[],
  env: NodeJS.ProcessEnv,
  untilExit = false,
): Promise<{ ms: number; out: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.stdout.on("data", (d) => {
      if (out === "" && !untilExit) {
        resolve({ ms: performance.now() - started, out: String(d) });
        child.kill("SIGTERM");
      }
      out += d;
    });
    child.once("exit", (code) => {
      if (untilExit && code === 0) resolve({ ms: performance.now() - started, out });
      else reject(new Error(`${args.join(" ")} exited ${code} first: ${err}`));
    });
  });
}

async function median(run: () => Promise<number>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await run());
  return percentile(times, 50);
}

/** One side of a pair, answering each cold-started peer with one byte as soon as it is paired. */
function answerOnce(identity: IdentityMaterials, dest: string): Promise<void> {
  return openChannel({ identity, dest }).then(({ socket }) => {
    socket.on("error", () => {});
    socket.resume();
    socket.write("!");
    socket.end();
  });
}

const IMPORT_TIMER = (specifier: string) =>
  `const t = performance.now(); await import(${JSON.stringify(specifier)}); process.stdout.write(String(performance.now() - t));`;

const CONNECT_SCRIPT = (bundle: string) =>
  `const { connect } = await import(${JSON.stringify(bundle)}); const s = await connect(); s.once("data", (d) => { process.stdout.write(d); process.exit(0); });`;

export const run: Bench = async () => {
  await buildJavaScript();
  const rows: BenchResult[] = [];
  const row = (variant: string, metric: string, value: number, unit = "ms") =>
    rows.push({ bench: BENCH, variant, metric, value, unit });
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLOCK_")));

  row(
    "cli-help-built",
    "p50_ms",
    await median(async () => (await timeChild([FLOCK_BIN, "--help"], clean, true)).ms),
  );
  row(
    "cli-help-tsx",
    "p50_ms",
    await median(async () => (await timeChild([...TSX_CLI, "--help"], clean, true)).ms),
  );

  const bundleUrl = new URL(`file://${CLIENT_BUNDLE}`).href;
  const sourcesUrl = new URL("../client/index.ts", import.meta.url).href;
  const evalArgs = (code: string) => ["--input-type=module", "-e", code];
  const importMs = async (args: string[]) => Number((await timeChild(args, clean, true)).out);
  row("sdk-import-bundle", "p50_ms", await median(() => importMs(evalArgs(IMPORT_TIMER(bundleUrl)))));
  row(
    "sdk-import-tsx",
    "p50_ms",
    await median(() => importMs(["--import", "tsx", ...evalArgs(IMPORT_TIMER(sourcesUrl))])),
  );
  const processMs = async (args: string[]) => (await timeChild(args, clean, true)).ms;
  row("node-bare-process", "p50_ms", await median(() => processMs(evalArgs("0"))));
  row(
    "sdk-import-bundle-process",
    "p50_ms",
    await median(() => processMs(evalArgs(IMPORT_TIMER(bundleUrl)))),
  );
  row(
    "sdk-import-tsx-process",
    "p50_ms",
    await median(() => processMs(["--import", "tsx", ...evalArgs(IMPORT_TIMER(sourcesUrl))])),
  );

  const bundle = await readFile(CLIENT_BUNDLE);
  row("sdk-bundle", "bytes", bundle.length, "bytes");
  row("sdk-bundle", "gzip_bytes", gzipSync(bundle).length, "bytes");
  row("sdk-bundle-map", "bytes", (await stat(`${CLIENT_BUNDLE}.map`)).size, "bytes");

  const system = await startSystem();
  const children: ChildProcess[] = [];
  try {
    await system.createUser("bench");
    const fn = await system.party("bench", "fn", "peer");
    const peer = await system.party("bench", "peer", "fn");
    const fnEnv = { ...clean, ...identityEnv(fn) };
    const firstByte = async (args: string[], env: NodeJS.ProcessEnv) => {
      const answered = answerOnce(peer, "fn");
      const { ms } = await timeChild(args, env);
      await answered;
      return ms;
    };
    row(
      "first-byte-sdk-bundle",
      "p50_ms",
      await median(() =>
        firstByte(evalArgs(CONNECT_SCRIPT(bundleUrl)), { ...clean, FLOCK_PARTY: encodeIdentityBundle(fn) }),
      ),
    );
    row(
      "first-byte-flock-connect",
      "p50_ms",
      await median(() => firstByte([FLOCK_BIN, "connect", "--quiet"], fnEnv)),
    );
    row(
      "first-byte-flock-connect-tsx",
      "p50_ms",
      await median(() => firstByte([...TSX_CLI, "connect", "--quiet"], fnEnv)),
    );

    // The peer's service greets each connection with one byte, behind a warm forward tunnel.
    const greeter = createServer((socket) => socket.end("!"));
    await new Promise<void>((resolve) => greeter.listen(0, "127.0.0.1", resolve));
    const forward = await startUntil(
      process.execPath,
      [FLOCK_BIN, "tunnel", "--quiet", "--forward", `127.0.0.1:${(greeter.address() as AddressInfo).port}`],
      { ...clean, ...identityEnv(peer) },
      /^forwarding to /,
    );
    children.push(forward.child);
    const tunnelFirstByte = async () => {
      const started = performance.now();
      const listen = await startUntil(
        process.execPath,
        [FLOCK_BIN, "tunnel", "--quiet", "--listen", "127.0.0.1:0"],
        fnEnv,
        /^listening on 127\.0\.0\.1:(\d+)\n/,
      );
      const socket = connectTcp({ host: "127.0.0.1", port: Number(listen.match[1]) });
      await new Promise((resolve) => socket.once("data", resolve));
      const ms = performance.now() - started;
      socket.destroy();
      await listen.stop();
      return ms;
    };
    row("first-byte-flock-tunnel", "p50_ms", await median(tunnelFirstByte));

    // Both tunnels running: what each new connection costs (its own ticket, pair and TLS).
    const listen = await startUntil(
      process.execPath,
      [FLOCK_BIN, "tunnel", "--quiet", "--listen", "127.0.0.1:0"],
      fnEnv,
      /^listening on 127\.0\.0\.1:(\d+)\n/,
    );
    children.push(listen.child);
    const connectionFirstByte = async () => {
      const started = performance.now();
      const socket = connectTcp({ host: "127.0.0.1", port: Number(listen.match[1]) });
      await new Promise((resolve) => socket.once("data", resolve));
      socket.destroy();
      return performance.now() - started;
    };
    row("tunnel-connection-warm", "p50_ms", await median(connectionFirstByte));
    await listen.stop();
    await forward.stop();
    greeter.close();
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
    await system.stop();
  }
  return rows;
};
