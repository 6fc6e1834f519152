/**
 * The setup end-to-end test files share, registered with vitest's hooks. Kept apart from
 * system.ts, which benches import outside vitest.
 */
import type { Duplex } from "node:stream";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { IdentityMaterials } from "../../client/identity.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import type { FlockSystem } from "./system.ts";
import { startSystemWithPair } from "./system.ts";

export interface SystemWithPair {
  system: FlockSystem;
  /** acme/alice and acme/bob, each other's default peer. */
  alice: IdentityMaterials;
  bob: IdentityMaterials;
  /** What a test pushes here is destroyed after it. */
  sockets: Duplex[];
}

/**
 * A system with user `acme` and its parties `alice` and `bob` (startSystemWithPair), made once
 * per file (filled in before the first test) and stopped after the last one.
 */
export function useSystemWithPair(options: Parameters<typeof startSystemWithPair>[0] = {}): SystemWithPair {
  const fx = { sockets: [] as Duplex[] } as SystemWithPair;
  beforeAll(async () => {
    Object.assign(fx, await startSystemWithPair(options));
  });
  afterEach(() => {
    for (const socket of fx.sockets.splice(0)) socket.destroy();
  });
  afterAll(async () => {
    await fx.system?.stop();
  });
  return fx;
}

/** The proxy a test put in front of the suite's first data plane, closed after that test. */
export interface DataPlaneProxy<P> {
  current: P | undefined;
  dataPlane(): DataPlane;
}

export function useDataPlaneProxy<P extends { close(): Promise<void> }>(
  fx: SystemWithPair,
): DataPlaneProxy<P> {
  const proxied: DataPlaneProxy<P> = {
    current: undefined,
    dataPlane: () => fx.system.dataPlanes[0] as DataPlane,
  };
  afterEach(async () => {
    await proxied.current?.close();
    proxied.current = undefined;
  });
  return proxied;
}
