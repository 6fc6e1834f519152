/**
 * The floor under V8's old generation this process was started with (node's
 * `--initial-old-space-size=MB`; node takes no other spelling but underscores), or undefined
 * without one or with 0. A relay without it can fall into a mark-compact after every young
 * collection once it holds pairs (docs/deploying.md, "V8's old generation"), and only node's
 * command line can set it, so the relay says so when it starts and shows it in its metrics.
 */
export function oldSpaceFloorMb(execArgv: readonly string[]): number | undefined {
  const given = execArgv
    .map((arg) => /^--initial[-_]old[-_]space[-_]size=(\d+)$/.exec(arg)?.[1])
    .filter((value) => value !== undefined);
  // The last one given wins, as it does for node.
  const floor = Number(given.at(-1) ?? 0);
  return floor > 0 ? floor : undefined;
}
