#!/usr/bin/env node
// Runs the compiled CLI (dist/cli/main.js), which `npm install` builds through the prepare
// script; `npm run build` rebuilds it after a change to the sources.
import { access } from "node:fs/promises";

const main = new URL("../dist/cli/main.js", import.meta.url);

// Stack traces for --debug point into the TypeScript sources; other runs skip the cost.
if (process.argv.includes("--debug")) process.setSourceMapsEnabled(true);

try {
  await access(main);
} catch {
  process.stderr.write("error: the flock CLI is not built: run `npm run build` (or `npm install`).\n");
  process.exit(1);
}
await import(main.href);
