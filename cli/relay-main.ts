/**
 * `flock relay …`, the data plane: bin/flock.js runs this entry (dist/cli/relay.js) instead
 * of the whole CLI when the first argument is `relay`. A data plane is a long-lived process
 * that needs none of the other commands, and every module loaded stays in its heap; a heap
 * that small costs the garbage collector far less per byte spliced (docs/benchmarks.md,
 * "Relay CPU per GB"). `relay`'s commands read and print exactly as in the whole tree.
 */
import packageJson from "../package.json" with { type: "json" };
import { registerRelayCommands } from "./commands/relay.ts";
import { rootProgram, runProgram } from "./root-program.ts";

process.exitCode = await runProgram(rootProgram(packageJson.version, [registerRelayCommands]), process.argv);
