/** A SoakResult as figures (one JSON line each, as benches print them) and as a summary for people. */
import type { BenchResult } from "../types.ts";
import type { SoakKnobs } from "./knobs.ts";
import type { SoakResult } from "./run-soak.ts";

const BENCH = "soak";
const MB = 1e6;

export function soakFigures(result: SoakResult): BenchResult[] {
  const row = (variant: string, metric: string, value: number, unit: string): BenchResult => ({
    bench: BENCH,
    variant,
    metric,
    value,
    unit,
  });
  const { pairs, faults, flood } = result;
  return [
    row("pairs", "completed", pairs.completed, "pairs"),
    row("pairs", "first_try", pairs.firstTry, "pairs"),
    row("pairs", "failed_attempts", pairs.failedAttempts, "attempts"),
    row("pairs", "given_up", pairs.givenUp, "pairs"),
    row("pairs", "wire_version_2", pairs.framed, "pairs"),
    row("streams", "breaks", result.streamBreaks, "breaks"),
    row("streams", "resumes", result.resumes, "resumes"),
    row("bytes", "moved", result.bytesMoved, "bytes"),
    row("bytes", "lost", result.bytesLost, "bytes"),
    row("bytes", "directions_lost", result.directionsLost, "directions"),
    row("bytes", "mb_per_second", result.bytesMoved / MB / result.wallSeconds, "MB/s"),
    row("faults", "disconnects_injected", faults.disconnects.injected, "cuts"),
    row("faults", "disconnects_missed", faults.disconnects.missed, "cuts"),
    row("faults", "relay_restarts", faults.restarts.crash + faults.restarts.graceful, "restarts"),
    row("flood", "connections_opened", flood.opened, "connections"),
    row("flood", "connections_dropped", flood.dropped, "connections"),
    row("fuzz", "hellos_sent", faults.fuzz.sent, "hellos"),
    row("fuzz", "hellos_accepted", faults.fuzz.accepted, "hellos"),
    row("fuzz", "hellos_left_open", faults.fuzz.leftOpen, "hellos"),
    ...result.relays.flatMap((r) => [
      row(r.name, "fds_before", r.before.fds, "fds"),
      row(r.name, "fds_after", r.after.fds, "fds"),
      row(r.name, "rss_before", r.before.rssBytes / MB, "MB"),
      row(r.name, "rss_after", r.after.rssBytes / MB, "MB"),
      row(r.name, "restarts", r.restarts, "restarts"),
      row(r.name, "error_lines", r.errorLines.length, "lines"),
    ]),
    row("run", "wall", result.wallSeconds, "s"),
    row("run", "setup", result.phases.setupSeconds, "s"),
    row("run", "pairs", result.phases.pairsSeconds, "s"),
    row("run", "settle", result.phases.settleSeconds, "s"),
  ];
}

const list = (map: Record<string, number>) =>
  Object.entries(map)
    .sort(([, x], [, y]) => y - x)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none";

export function soakSummary(knobs: SoakKnobs, result: SoakResult): string {
  const { pairs, faults, flood } = result;
  const lines = [
    `soak: ${knobs.pairs} pairs x ${knobs.bytesEachWay} bytes each way over ${knobs.transports.join("/")}, ${knobs.relays} data planes, seed ${knobs.seed}, ${result.wallSeconds.toFixed(1)} s (setup ${result.phases.setupSeconds.toFixed(1)}, pairs ${result.phases.pairsSeconds.toFixed(1)}, settle ${result.phases.settleSeconds.toFixed(1)})`,
    `  pairs      ${pairs.completed} completed (${pairs.firstTry} on the first try), ${pairs.failedAttempts} failed attempts retried, ${pairs.givenUp} given up`,
    `  streams    ${pairs.framed} completed pairs on wire version 2; ${result.streamBreaks} broken transports, ${result.resumes} resumes`,
    `  failures   ${list(result.failures)}`,
    `  bytes      ${(result.bytesMoved / MB).toFixed(1)} MB verified (sha256), ${result.bytesLost} lost in ${result.directionsLost} directions that ended as if complete`,
    `  faults     ${faults.disconnects.injected} cuts (${list(faults.disconnects.byKind)}; ${faults.disconnects.missed} found no stream to cut), restarts: ${faults.restarts.crash} crash, ${faults.restarts.graceful} graceful`,
    `  retries    inside connect: ${list(result.connectRetries)}`,
    `  flood      ${flood.opened} stalled connections opened, ${flood.dropped} dropped by the data planes and reopened, ${flood.held} held at the end`,
    `  fuzz       ${faults.fuzz.sent} hellos: ${list(faults.fuzz.refusals)}; ${faults.fuzz.closedQuietly} closed without a frame, ${faults.fuzz.leftOpen} left open, ${faults.fuzz.accepted} accepted`,
    ...result.relays.map(
      (r) =>
        `  ${r.name.padEnd(12)} fds ${r.before.fds} -> ${r.after.fds}, RSS ${(r.before.rssBytes / MB).toFixed(0)} -> ${(r.after.rssBytes / MB).toFixed(0)} MB, ${r.restarts} restarts${r.restarts > 0 ? " (after: the last process)" : ""}, ${r.openAfter} connections still open, ${r.errorLines.length} error lines`,
    ),
  ];
  for (const r of result.relays)
    for (const line of r.errorLines.slice(0, 5)) lines.push(`  ${r.name} error: ${line}`);
  return `${lines.join("\n")}\n`;
}

/** One line while the run goes on. */
export function soakProgress(result: SoakResult, pairs: number, floodOpen: number): string {
  const { faults } = result;
  return `soak: ${result.pairs.completed}/${pairs} pairs, ${result.pairs.failedAttempts} failed attempts, ${(result.bytesMoved / 1e9).toFixed(2)} GB verified, ${result.resumes} resumes, ${faults.disconnects.injected} cuts, ${faults.restarts.crash + faults.restarts.graceful} restarts, ${faults.fuzz.sent} fuzzed hellos, ${floodOpen} flood connections`;
}

/** What makes a run fail: any byte lost unawares, a pair never completed, a hello accepted, a data path bug. */
export function soakProblems(result: SoakResult): string[] {
  const problems: string[] = [];
  if (result.bytesLost > 0) problems.push(`${result.bytesLost} bytes lost unawares`);
  if (result.pairs.givenUp > 0) problems.push(`${result.pairs.givenUp} pairs never completed`);
  if (result.faults.fuzz.accepted > 0) problems.push(`${result.faults.fuzz.accepted} fuzzed hellos accepted`);
  for (const r of result.relays) {
    if (r.errorLines.length > 0) problems.push(`${r.name} logged ${r.errorLines.length} errors`);
  }
  return problems;
}
