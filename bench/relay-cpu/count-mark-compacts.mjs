// Loaded with `--import` into each Node relay of bench/relay-cpu.ts: prints one line,
// `mark-compact`, to stderr at each V8 mark-compact, so the bench can count them over a
// transfer. A write to a pipe is synchronous on Linux, so the line leaves when the observer
// runs; V8's own --trace-gc goes through C's buffered stdout and may arrive rounds late.
import { constants, PerformanceObserver } from "node:perf_hooks";

new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) process.stderr.write("mark-compact\n");
  }
}).observe({ entryTypes: ["gc"] });
