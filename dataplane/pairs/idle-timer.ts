/**
 * Ends a pair idle for `idleTimeoutMs`: one timer per pair, re-armed for the time left
 * rather than on every chunk. `idleMs` says how long the pair has been quiet; `onIdle` runs
 * once when that reaches the timeout. Returns the function that cancels the watch.
 */
export function watchIdle(idleTimeoutMs: number, idleMs: () => number, onIdle: () => void): () => void {
  const check = () => {
    const quiet = idleMs();
    if (quiet >= idleTimeoutMs) onIdle();
    else timer = setTimeout(check, idleTimeoutMs - quiet);
  };
  let timer = setTimeout(check, idleTimeoutMs);
  return () => clearTimeout(timer);
}
