/** Every time D1 stores is unix seconds (INTEGER); the API speaks ISO 8601. */
export function nowSeconds(): number {
  return secondsFromMs(Date.now());
}

/** An isolate's millisecond clock reading as the stored unit, rounded down. */
export function secondsFromMs(ms: number): number {
  return Math.floor(ms / 1000);
}

export function isoFromSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
