/**
 * The live relays (selectLiveRelays) an isolate last read, kept LIVE_RELAYS_CACHE_MS for the
 * ticket path to pick new pairs' relays from without a read. The tickets' write batch checks
 * each pick is still live and not draining, so what this can leave stale is only which relay a
 * new pair is offered. Changes this isolate makes or hears of clear it at once: a relay's
 * revocation, and a load report from a relay it does not list as live, or that starts or stops
 * draining. Other isolates see those within the TTL.
 */
import type { RelayLoad } from "../../protocol/api.ts";
import type { LiveRelay } from "./relays.ts";

/** A fraction of the report interval, so a relay that starts reporting elsewhere gets pairs soon. */
export const LIVE_RELAYS_CACHE_MS = 5_000;

let live: { relays: LiveRelay[]; readAtMs: number } | undefined;

/** `nowMs` is the isolate's clock: nothing here is stored. */
export function cachedLiveRelays(nowMs: number): LiveRelay[] | undefined {
  return live && nowMs - live.readAtMs < LIVE_RELAYS_CACHE_MS ? live.relays : undefined;
}

export function rememberLiveRelays(relays: LiveRelay[], nowMs: number): void {
  live = { relays, readAtMs: nowMs };
}

export function forgetLiveRelays(): void {
  live = undefined;
}

const draining = (load: RelayLoad | undefined) => load?.capacity === 0;

/** Clears the cache when a report changes who may get new pairs: a relay not listed, or one that starts or stops draining. */
export function heardRelayReport(name: string, load: RelayLoad): void {
  const listed = live?.relays.find((relay) => relay.name === name);
  const before = listed?.load ? (JSON.parse(listed.load) as RelayLoad) : undefined;
  if (!listed || draining(before) !== draining(load)) forgetLiveRelays();
}
