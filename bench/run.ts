/**
 * `npm run bench [name...]`: runs every bench module in this folder (or the named ones) in
 * one process, one after another, so the rows of one bench are measured side by side on the
 * same noisy machine. Each result is one JSON line on stdout; a summary table goes to stderr.
 */
import { readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Bench, BenchResult } from "./types.ts";

const here = dirname(fileURLToPath(import.meta.url));
const NOT_BENCHES = new Set(["run.ts", "types.ts"]);

async function benchModules(filter: string[]): Promise<string[]> {
  const files = (await readdir(here)).filter((f) => f.endsWith(".ts") && !NOT_BENCHES.has(f)).sort();
  const names = files.map((f) => basename(f, ".ts"));
  const unknown = filter.filter((f) => !names.includes(f));
  if (unknown.length > 0) throw new Error(`unknown bench ${unknown.join(", ")}; have ${names.join(", ")}`);
  return filter.length > 0 ? filter : names;
}

function summarise(rows: BenchResult[]): void {
  for (const r of rows) {
    process.stderr.write(
      `${r.bench.padEnd(22)} ${r.variant.padEnd(22)} ${r.metric.padEnd(16)} ${r.value.toFixed(2).padStart(12)} ${r.unit}\n`,
    );
  }
}

const names = await benchModules(process.argv.slice(2));
let failed = false;
for (const name of names) {
  process.stderr.write(`… bench ${name}\n`);
  try {
    const mod = (await import(join(here, `${name}.ts`))) as { run: Bench };
    const rows = await mod.run();
    for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
    summarise(rows);
  } catch (error) {
    failed = true;
    process.stderr.write(
      `bench ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
}
process.exitCode = failed ? 1 : 0;
