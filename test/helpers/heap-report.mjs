// Loaded with `--import` into a process under test that runs with --expose-gc: on SIGUSR2 it
// collects all garbage and prints the V8 heap in use to stderr as one line,
// `heap-used-bytes N`, so a test can read what a process holds once it is idle.
process.on("SIGUSR2", () => {
  globalThis.gc();
  process.stderr.write(`heap-used-bytes ${process.memoryUsage().heapUsed}\n`);
});
