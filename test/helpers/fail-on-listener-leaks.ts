import { afterEach } from "vitest";

/**
 * Setup file of the node project: a test during which an emitter passed its listener limit
 * (Node's MaxListenersExceededWarning, the sign of a listener left behind per wait, in the
 * product or in a test) fails, instead of the warning being one line in CI's log. Node emits
 * the warning on the next tick, so one raised in a test's last tick fails the test after it.
 */
const WATCHING = Symbol.for("flock.test.listenerLeakWatch");
const state = process as unknown as Record<symbol, string[] | undefined>;

if (!state[WATCHING]) {
  const warnings: string[] = [];
  state[WATCHING] = warnings;
  process.on("warning", (warning) => {
    if (warning.name === "MaxListenersExceededWarning") warnings.push(warning.message);
  });
}

afterEach(() => {
  const found = (state[WATCHING] as string[]).splice(0);
  if (found.length > 0) {
    throw new Error(`An emitter passed its listener limit during this test: ${found.join(" | ")}`);
  }
});
