/**
 * Builds the kernel-splice addon with node-gyp; run by the root package's `install` script
 * (so on `npm install` and `npm ci`) or by hand: node native/splice/install.mjs.
 * With --if-stale (the node tests' global setup) it builds only when a source is newer
 * than the built addon, and says nothing when there is nothing to do.
 * The addon is optional: when it cannot be built (no compiler, not Linux) this says so in
 * one line and exits 0, and the data plane uses the JS splice. FLOCK_NATIVE_SPLICE=0 skips
 * the build. See docs/data-plane.md ("Kernel splice (plain-TCP pairs)").
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const say = (line) => process.stderr.write(`flock: ${line}\n`);

function nodeGypScript() {
  // npm tells its lifecycle scripts where its bundled node-gyp is; by hand, look beside npm.
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const beside = resolve(
    process.execPath,
    "../../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
  );
  return existsSync(beside) ? beside : undefined;
}

/** The prefix Node was installed under, when its headers are there (no download needed). */
function localNodeDir() {
  const prefix = resolve(process.execPath, "../..");
  return existsSync(join(prefix, "include/node/node_api.h")) ? prefix : undefined;
}

const ADDON = join(here, "build", "Release", "flock_splice.node");

/** The addon exists and no source (binding.gyp, src/) changed after it was built. */
function upToDate() {
  if (!existsSync(ADDON)) return false;
  const built = statSync(ADDON).mtimeMs;
  const sources = [
    join(here, "binding.gyp"),
    ...readdirSync(join(here, "src")).map((f) => join(here, "src", f)),
  ];
  return sources.every((source) => statSync(source).mtimeMs <= built);
}

function build() {
  if (process.env.FLOCK_NATIVE_SPLICE === "0") return "skipped (FLOCK_NATIVE_SPLICE=0)";
  if (process.platform !== "linux") return "skipped: splice(2) is Linux-only";
  const gyp = nodeGypScript();
  if (!gyp) return "not built: node-gyp not found (it ships with npm)";
  const nodeDir = localNodeDir();
  const args = [gyp, "rebuild", ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
  const run = spawnSync(process.execPath, args, { cwd: here, encoding: "utf8" });
  if (run.status === 0) return "built";
  const output = `${run.stdout ?? ""}${run.stderr ?? ""}`.trim().split("\n");
  for (const line of output.slice(-15)) process.stderr.write(`  ${line}\n`);
  return `not built (node-gyp exited ${run.status ?? run.signal}; needs g++, make, python3 and Node's headers)`;
}

if (process.argv.includes("--if-stale") && upToDate()) process.exit(0);
const outcome = build();
say(
  outcome === "built"
    ? "kernel splice addon built"
    : `kernel splice addon ${outcome}; the data plane will use the JS splice.`,
);
