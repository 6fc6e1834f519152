/**
 * `npm run soak [-- --knob value ...]`: the full soak (docs/testing.md, "The soak"). One JSON
 * line per figure on stdout, progress and a summary on stderr; exits 1 when a byte was lost
 * unawares, a pair never completed, a fuzzed hello was accepted or a data plane logged an error.
 */
import { parseKnobs } from "./knobs.ts";
import { runSoak } from "./run-soak.ts";
import { soakFigures, soakProblems, soakSummary } from "./soak-report.ts";

const knobs = parseKnobs(process.argv.slice(2));
const result = await runSoak(knobs, (line) => process.stderr.write(`${line}\n`));
for (const figure of soakFigures(result)) process.stdout.write(`${JSON.stringify(figure)}\n`);
process.stderr.write(soakSummary(knobs, result));
const problems = soakProblems(result);
for (const problem of problems) process.stderr.write(`soak FAILED: ${problem}\n`);
process.exitCode = problems.length > 0 ? 1 : 0;
