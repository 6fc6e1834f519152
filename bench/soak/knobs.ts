/**
 * What one soak run does. `npm run soak` uses FULL_SOAK; `npm test` runs the same code with
 * SHORT_SOAK (test/e2e/soak.test.ts). Every knob can be set on the command line:
 * `npm run soak -- --pairs 200 --bytes-each-way 1000000`.
 */
import type { Transport } from "../../client/dial.ts";
import { isTransport, TRANSPORTS } from "../../client/dial.ts";
import { DEFAULT_RESUME_DEADLINE_MS } from "../../client/stream/stream-limits.ts";
import type { CutKind } from "./chaos-proxy.ts";

export interface SoakKnobs {
  /** Pairs to complete; a broken one is tried again under a new channel name. */
  pairs: number;
  /** Each party of a pair sends this many bytes (so a pair moves twice as many). */
  bytesEachWay: number;
  /** Pairs moving bytes at once. */
  concurrency: number;
  /** Attempts after the first for a pair that broke. */
  retries: number;
  /** Data planes, two or more: the first is never restarted, so its figures show leaks over the whole run. */
  relays: number;
  users: number;
  partiesPerUser: number;
  /** Each side of a pair picks one at random: any transport pairs with any other. */
  transports: Transport[];
  /** Party connections cut in the middle of a stream, spread over the run. */
  disconnects: number;
  /** Taken in turn, one kind per cut. */
  cutKinds: CutKind[];
  /** Data plane restarts (crash and graceful in turn), spread over the run. */
  restarts: number;
  /** Stalled handshakes held open during the whole run, reopened when dropped. */
  floodConnections: number;
  /** Loopback addresses the flood comes from, one per /24. */
  floodSources: number;
  /** Fuzzed hellos sent during the run. */
  fuzzCases: number;
  fuzzConcurrency: number;
  /** Passed to each data plane (`--hello-deadline-ms`); also how long a stalled fuzz case stays open. */
  helloDeadlineMs: number;
  /** Per side, for opening the channel (retries included). */
  connectDeadlineMs: number;
  /** How long a broken wire-version-2 stream may take to resume before it is STREAM_TRUNCATED. */
  resumeDeadlineMs: number;
  seed: number;
}

export const FULL_SOAK: SoakKnobs = {
  pairs: 1000,
  bytesEachWay: 10_000_000,
  concurrency: 8,
  retries: 3,
  relays: 3,
  users: 2,
  partiesPerUser: 4,
  transports: [...TRANSPORTS],
  disconnects: 100,
  cutKinds: ["reset", "fin"],
  restarts: 10,
  floodConnections: 1024,
  floodSources: 16,
  fuzzCases: 2000,
  fuzzConcurrency: 16,
  helloDeadlineMs: 10_000,
  connectDeadlineMs: 60_000,
  resumeDeadlineMs: DEFAULT_RESUME_DEADLINE_MS,
  seed: 13,
};

/** Same code, smaller knobs: well under 20 s on an idle 2-core machine. */
export const SHORT_SOAK: SoakKnobs = {
  ...FULL_SOAK,
  pairs: 20,
  bytesEachWay: 1_000_000,
  concurrency: 4,
  relays: 2,
  users: 1,
  partiesPerUser: 3,
  disconnects: 4,
  restarts: 1,
  floodConnections: 48,
  floodSources: 4,
  fuzzCases: 40,
  fuzzConcurrency: 8,
  helloDeadlineMs: 2_000,
  // A data plane restarts within a second or two: a stream that has not resumed by then will not.
  connectDeadlineMs: 20_000,
  resumeDeadlineMs: 20_000,
};

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `--kebab-name value` for every knob; lists are comma-separated. Unknown or bad flags throw. */
export function parseKnobs(argv: string[], base: SoakKnobs = FULL_SOAK): SoakKnobs {
  const knobs: SoakKnobs = { ...base };
  const keys = new Map(Object.keys(base).map((k) => [`--${kebab(k)}`, k as keyof SoakKnobs]));
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i] as string, argv[i + 1]];
    const key = keys.get(flag);
    if (key === undefined || value === undefined) {
      throw new Error(`unknown soak flag ${flag} (or no value); knobs: ${[...keys.keys()].join(" ")}`);
    }
    if (key === "transports") {
      const list = value.split(",");
      if (!list.every(isTransport)) throw new Error(`--transports: one of ${TRANSPORTS.join(",")}`);
      knobs.transports = list;
    } else if (key === "cutKinds") {
      const list = value.split(",");
      if (!list.every((k): k is CutKind => k === "reset" || k === "fin"))
        throw new Error("--cut-kinds: reset,fin");
      knobs.cutKinds = list;
    } else {
      const number = Number(value);
      if (!Number.isInteger(number) || number < 0)
        throw new Error(`${flag} needs a whole number, got ${value}`);
      (knobs as unknown as Record<string, number>)[key] = number;
    }
  }
  checkKnobs(knobs);
  return knobs;
}

export function checkKnobs(knobs: SoakKnobs): void {
  if (knobs.relays < 2) throw new Error("--relays: at least 2, so pairs can move while one restarts");
  if (knobs.partiesPerUser < 2) throw new Error("--parties-per-user: at least 2");
  if (knobs.pairs < 1 || knobs.concurrency < 1 || knobs.bytesEachWay < 1) {
    throw new Error("--pairs, --concurrency and --bytes-each-way must be at least 1");
  }
  if (knobs.transports.length === 0 || knobs.cutKinds.length === 0) {
    throw new Error("--transports and --cut-kinds need at least one entry");
  }
}
