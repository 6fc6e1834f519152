/** What a process holds, read from /proc (Linux): open file descriptors and resident memory. */
import { readdir, readFile } from "node:fs/promises";

export interface ProcessStats {
  fds: number;
  rssBytes: number;
}

export async function processStats(pid: number): Promise<ProcessStats> {
  const [fds, status] = await Promise.all([
    readdir(`/proc/${pid}/fd`),
    readFile(`/proc/${pid}/status`, "utf8"),
  ]);
  const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1] ?? Number.NaN);
  return { fds: fds.length, rssBytes: rssKb * 1024 };
}
