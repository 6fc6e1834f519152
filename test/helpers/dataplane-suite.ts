/**
 * The setup every data plane test file shares, registered with vitest's hooks. Kept apart
 * from dataplane-fixtures.ts, which benches import outside vitest.
 */
import { afterAll, afterEach, beforeAll } from "vitest";
import { closeAllParties } from "./dataplane-client.ts";
import type { DataPlaneFixtures } from "./dataplane-fixtures.ts";
import { makeDataPlaneFixtures } from "./dataplane-fixtures.ts";

/**
 * Fixtures made once per file (filled in before the first test); after each test every
 * client connection and every data plane it started is closed; the worker stand-in stops last.
 */
export function useDataPlaneFixtures(): DataPlaneFixtures {
  const fx = {} as DataPlaneFixtures;
  beforeAll(async () => {
    Object.assign(fx, await makeDataPlaneFixtures());
  });
  afterEach(async () => {
    closeAllParties();
    await fx.close();
  });
  afterAll(() => fx.worker.stop());
  return fx;
}
