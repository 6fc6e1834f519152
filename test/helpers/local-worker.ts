import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalWorker, startLocalWorker } from "../../cli/local/local-worker.ts";

export interface TestWorker extends LocalWorker {
  /** A fresh temporary directory holding the worker's state (secrets.json, D1). */
  stateDir: string;
  /** Stops workerd and removes the state directory. */
  cleanup(): Promise<void>;
}

/**
 * Benches and end-to-end runs ask one party for hundreds of tickets in seconds. The rate
 * limiter still runs on every ticket (its cost is measured), at a rate they never reach; the
 * limit itself is tested in test/worker/tickets/rate-limit.test.ts.
 */
export const UNTHROTTLED_TICKET_VARS = { TICKETS_PER_SECOND: "1000000", TICKET_BURST: "1000000" };

/** A real worker in workerd on 127.0.0.1:0 with throwaway state, for end-to-end tests and benches. */
export async function startTestWorker(stateDir?: string): Promise<TestWorker> {
  const dir = stateDir ?? (await mkdtemp(join(tmpdir(), "flock-worker-")));
  const worker = await startLocalWorker({
    stateDir: dir,
    port: 0,
    quiet: true,
    vars: UNTHROTTLED_TICKET_VARS,
  });
  return {
    ...worker,
    stateDir: dir,
    async cleanup() {
      await worker.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
