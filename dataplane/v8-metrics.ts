import type { NodeGCPerformanceDetail, PerformanceEntry } from "node:perf_hooks";
import { constants, PerformanceObserver } from "node:perf_hooks";
import type { Registry } from "prom-client";
import { Counter, Gauge } from "prom-client";
import { oldSpaceFloorMb } from "./old-space-floor.ts";

/** V8 counts its heap sizes in MB of 2^20 bytes. */
const BYTES_PER_MB = 1024 * 1024;

/** The kind label of each V8 collection node reports; "other" is one it has no name for. */
const GC_KINDS = new Map<number, string>([
  [constants.NODE_PERFORMANCE_GC_MAJOR, "major"],
  [constants.NODE_PERFORMANCE_GC_MINOR, "minor"],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, "incremental"],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, "weakcb"],
]);

function gcKind(entry: PerformanceEntry): string {
  // @types/node leaves `detail` off the entry; node sets it on every 'gc' entry.
  const { kind } = (entry as PerformanceEntry & { detail: NodeGCPerformanceDetail }).detail;
  return GC_KINDS.get(kind) ?? "other";
}

/**
 * Registers V8's collections (count and seconds, by kind) and the old generation's floor
 * (docs/deploying.md, "V8's old generation"), so an operator sees a relay that runs a
 * mark-compact after every young collection. One PerformanceObserver, no timer: node hands
 * it the entries after each collection and nothing runs between them (prom-client's default
 * metrics are left out because their event-loop monitor wakes an idle relay ~100 times a
 * second). Collections are the process's, so each data plane in one process counts all of
 * them from its start. Returns what disconnects the observer, so a stopped data plane leaves
 * nothing behind.
 */
export function observeV8(registry: Registry, execArgv: readonly string[]): () => void {
  new Gauge({
    name: "flock_dataplane_old_space_floor_bytes",
    help: "The floor under V8's old generation node was started with (--initial-old-space-size), 0 without.",
    registers: [registry],
  }).set((oldSpaceFloorMb(execArgv) ?? 0) * BYTES_PER_MB);
  const collections = new Counter({
    name: "flock_dataplane_gc_total",
    help: "V8 garbage collections in this process since the data plane started, by kind (major is a full mark-compact).",
    labelNames: ["kind"],
    registers: [registry],
  });
  const seconds = new Counter({
    name: "flock_dataplane_gc_seconds_total",
    help: "Seconds V8 spent in garbage collections since the data plane started, by kind.",
    labelNames: ["kind"],
    registers: [registry],
  });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = gcKind(entry);
      collections.inc({ kind });
      seconds.inc({ kind }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  return () => observer.disconnect();
}
