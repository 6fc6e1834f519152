import packageJson from "../package.json" with { type: "json" };

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  // Answered before the command tree (and every module it imports) is loaded.
  process.stdout.write(`${packageJson.version}\n`);
} else {
  const { runFlock } = await import("./program.ts");
  process.exitCode = await runFlock(process.argv, packageJson.version);
}
