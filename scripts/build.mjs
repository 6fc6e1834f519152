#!/usr/bin/env node
// Compiles the TypeScript sources into dist/ (see docs/testing.md, "The build").
//
//   node scripts/build.mjs            the CLI (data plane included) and the SDK's single-file bundle
//   node scripts/build.mjs --types    the same, plus the SDK's declaration files
//
// Plain JavaScript on purpose: it runs from `npm install`'s prepare step, before anything
// is compiled. Each output is written to a temporary file and renamed into place, and only
// when its bytes changed, so a test run that rebuilds never hands a half-written file to a
// CLI another test is starting, and an up-to-date tree costs one esbuild pass.
import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DIST = join(ROOT, "dist");
/** The SDK as one ESM file with ws and jose inside: the package's entry and the zip-deploy bundle. */
export const CLIENT_BUNDLE = join(DIST, "client", "flock-client.mjs");
export const CLIENT_TYPES_DIR = join(DIST, "client-types");
/** Where tsc puts the declaration of client/index.ts (the package's `types`). */
export const CLIENT_TYPES_ENTRY = join(CLIENT_TYPES_DIR, "client", "index.d.ts");

const NODE_TARGET = "node20.11";

/** Shared by every entry: one ESM file per program, Node built-ins left alone. */
const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: NODE_TARGET,
  write: false,
  sourcemap: "linked",
  logLevel: "warning",
  absWorkingDir: ROOT,
};

/**
 * CommonJS packages bundled into ESM call `require()`; the banner gives them a real one.
 * bufferutil and utf-8-validate are optional native helpers ws looks for at run time: found
 * in node_modules (or next to a function's bundle) they are used, absent ws works without.
 */
const REQUIRE_BANNER = {
  js: 'import { createRequire as flockCreateRequire } from "node:module";\nconst require = flockCreateRequire(import.meta.url);',
};
const NATIVE_OPTIONAL = ["bufferutil", "utf-8-validate"];

/**
 * The CLI with its npm dependencies compiled in: one file loads in about half the time of
 * the same modules resolved one by one from node_modules, and every command pays that at
 * start (docs/benchmarks.md, "Cold start"). miniflare and wrangler stay outside: `flock dev`
 * loads them lazily, and they ship native binaries and files of their own.
 *
 * The data plane (`flock relay start`) has a file of its own, which bin/flock.js runs for
 * `flock relay …`: only the relay command and the data plane, minified (its source text is
 * held in the heap for the life of the process; names are kept for stack traces). A small
 * heap is what keeps a relay's garbage collection cheap per byte spliced
 * (docs/benchmarks.md, "Relay CPU per GB").
 */
export const programs = [
  {
    entryPoints: ["cli/main.ts"],
    outfile: "dist/cli/main.js",
    external: ["miniflare", "wrangler", ...NATIVE_OPTIONAL],
    banner: REQUIRE_BANNER,
  },
  {
    entryPoints: ["cli/relay-main.ts"],
    outfile: "dist/cli/relay.js",
    external: NATIVE_OPTIONAL,
    banner: REQUIRE_BANNER,
    minify: true,
  },
];

/** The SDK: ws and jose compiled in, so the package has no dependencies. */
const clientBundle = {
  entryPoints: ["client/index.ts"],
  outfile: relative(ROOT, CLIENT_BUNDLE),
  external: NATIVE_OPTIONAL,
  banner: REQUIRE_BANNER,
  legalComments: "eof",
};

/** Writes `bytes` to `path` unless it already holds them; atomic for readers. */
async function writeIfChanged(path, bytes) {
  const old = await readFile(path).catch(() => undefined);
  if (old?.equals(bytes)) return false;
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, bytes);
  await rename(temporary, path);
  return true;
}

async function buildOne(options) {
  const result = await esbuild.build({ ...common, ...options });
  let changed = 0;
  for (const file of result.outputFiles) {
    if (await writeIfChanged(file.path, Buffer.from(file.contents))) changed++;
  }
  return changed;
}

/** Compiles the CLI, the data plane and the SDK bundle; resolves to the number of files rewritten. */
export async function buildJavaScript() {
  const counts = await Promise.all([...programs, clientBundle].map(buildOne));
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * The SDK's declaration files. tsc keeps the sources' `.ts` import specifiers in .d.ts
 * output; they are rewritten to `.js`, which TypeScript maps back to the .d.ts beside them,
 * so consumers resolve them under any moduleResolution. The SDK ships without npm
 * dependencies, so its public types may name Node's modules only: a declaration that
 * reaches `ws` or `jose` fails the build here rather than a user's type check.
 */
export async function buildClientTypes() {
  await rm(CLIENT_TYPES_DIR, { recursive: true, force: true });
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", "tsconfig.client-types.json"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (run.status !== 0)
    throw new Error(`tsc could not emit the SDK's declarations:\n${run.stdout}${run.stderr}`);
  const reachable = await reachableDeclarations(CLIENT_TYPES_ENTRY);
  for (const file of await listFiles(CLIENT_TYPES_DIR)) {
    if (!reachable.has(file)) await rm(file);
  }
}

const SPECIFIER = /(?:from\s+|import\s*\()"([^"]+)"/g;

/** Rewrites each .d.ts reachable from `entry` and returns their paths; throws on a bare npm import. */
async function reachableDeclarations(entry) {
  const seen = new Set();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await readFile(file, "utf8");
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      if (specifier.startsWith(".")) {
        queue.push(join(dirname(file), specifier.replace(/\.ts$/, ".d.ts")));
      } else if (!specifier.startsWith("node:")) {
        throw new Error(
          `The SDK's public types reach the npm package "${specifier}" (${relative(CLIENT_TYPES_DIR, file)}); ` +
            "the package has no dependencies: keep it out of exported signatures or mark the export @internal.",
        );
      }
    }
    await writeFile(file, text.replace(/((?:from\s+|import\s*\()"\.{1,2}\/[^"]*)\.ts"/g, '$1.js"'));
  }
  return seen;
}

async function listFiles(dir) {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const changed = await buildJavaScript();
  if (process.argv.includes("--types")) await buildClientTypes();
  process.stderr.write(
    `flock build: dist/ up to date (${changed} files rewritten, ${Date.now() - started} ms)\n`,
  );
}
