import { readdirSync, readFileSync } from "node:fs";
import { cpuSeconds } from "../relay-cpu/relays.ts";

/** The command name (comm) and parent pid of a process, from /proc; undefined once it is gone. */
function nameAndParent(pid: string): { name: string; ppid: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The name is parenthesised and may hold spaces; the fields after it are state, ppid, ...
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  return { name: stat.slice(stat.indexOf("(") + 1, close), ppid: Number(fields[1]) };
}

/**
 * CPU seconds of every thread of this process's children whose command name starts with
 * `prefix` (`workerd` for the local worker, `node` for a data plane in a child process).
 */
export function childrenCpuSeconds(prefix: string): number {
  let seconds = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(pid)) continue;
    const proc = nameAndParent(pid);
    if (!proc || proc.ppid !== process.pid || !proc.name.startsWith(prefix)) continue;
    try {
      seconds += cpuSeconds(Number(pid));
    } catch {
      // It exited between the two reads: its time is no longer on anyone's account.
    }
  }
  return seconds;
}

/** CPU seconds of this process, all threads. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
