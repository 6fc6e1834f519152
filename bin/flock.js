#!/usr/bin/env node
// Runs the compiled CLI (dist/cli/), which `npm install` builds through the prepare script;
// `npm run build` rebuilds it after a change to the sources. `flock relay …` (the data plane)
// has an entry of its own that loads none of the other commands (cli/relay-main.ts).
import { access } from "node:fs/promises";

const entry = process.argv[2] === "relay" ? "relay.js" : "main.js";
const main = new URL(`../dist/cli/${entry}`, import.meta.url);

// A reader that stops early (`flock list relays | head -1`) closes the pipe. That ends the
// output, as SIGPIPE ends a C tool: exit 141 (128 + SIGPIPE) without a stack trace, so a
// script sees the output was cut. Any other error on the way out stays an error.
process.stdout.on("error", (error) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(141);
});

// Stack traces for --debug point into the TypeScript sources; other runs skip the cost.
if (process.argv.includes("--debug")) process.setSourceMapsEnabled(true);

try {
  await access(main);
} catch {
  process.stderr.write("error: the flock CLI is not built: run `npm run build` (or `npm install`).\n");
  process.exit(1);
}
await import(main.href);
