import { onTestFinished } from "vitest";

/**
 * Collects, until the current test ends, the messages of the MaxListenersExceededWarnings this
 * process emits: a test that waits many times on one emitter asserts the array stays empty, so
 * a listener left behind per wait (in the product or in the test) fails it instead of only
 * printing a line in CI's log.
 */
export function listenerLeakWarnings(): string[] {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === "MaxListenersExceededWarning") warnings.push(warning.message);
  };
  process.on("warning", onWarning);
  onTestFinished(() => {
    process.off("warning", onWarning);
  });
  return warnings;
}
