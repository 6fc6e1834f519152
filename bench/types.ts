/** One measured figure; `npm run bench` prints each as a JSON line on stdout. */
export interface BenchResult {
  /** Which benchmark, e.g. "tickets". */
  bench: string;
  /** What was measured in this row, e.g. "relay-tcp" or "direct". Rows of one bench are compared side by side. */
  variant: string;
  /** e.g. "p50_ms", "p99_ms", "per_second", "mb_per_second", "kb_per_pair". */
  metric: string;
  value: number;
  unit: string;
}

/** Every bench module exports one of these; bench/run.ts runs them in turn. */
export type Bench = () => Promise<BenchResult[]>;
