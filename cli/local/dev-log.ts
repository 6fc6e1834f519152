import { createWriteStream } from "node:fs";
import { Writable } from "node:stream";
import { dim, red, yellow } from "../output.ts";

/**
 * What `flock dev` does with the JSON log lines of the worker (workerd's console) and of its
 * data plane (pino): JSON where a program reads them (`--json`, `--log-file`, a stdout that
 * is not a terminal), one short human line each on a terminal.
 */
export type DevLogMode = "human" | "json";

export interface DevLogChoice {
  json?: boolean;
  logFile?: string;
  stdoutIsTTY: boolean;
}

export function devLogMode(choice: DevLogChoice): DevLogMode {
  return choice.json || choice.logFile !== undefined || !choice.stdoutIsTTY ? "json" : "human";
}

export interface DevLog {
  /** A writable for one source; each keeps its own partial line, so two sources never mix mid-line. */
  input(): Writable;
  /** Human lines written before this wait for it, so they never land inside the banner. */
  release(): void;
  /** Flushes held lines and closes the log file, if any. */
  close(): Promise<void>;
}

export interface DevLogOptions {
  mode: DevLogMode;
  /** Where lines go: the log file when given, else this (stderr). */
  out: Writable;
  logFile?: string;
}

export function openDevLog(options: DevLogOptions): DevLog {
  const out =
    options.logFile === undefined
      ? options.out
      : createWriteStream(options.logFile, { flags: "a", mode: 0o600 });
  const human = options.mode === "human";
  let held: string[] | undefined = human ? [] : undefined;
  const emit = (line: string) => {
    const text = `${human ? formatLogLine(line) : line}\n`;
    if (held) held.push(text);
    else out.write(text);
  };
  const release = () => {
    const lines = held ?? [];
    held = undefined;
    for (const text of lines) out.write(text);
  };
  return {
    input: () => lineSplitter(emit),
    release,
    close: async () => {
      release();
      if (out !== options.out) await new Promise<void>((resolve) => out.end(resolve));
    },
  };
}

function lineSplitter(emit: (line: string) => void): Writable {
  let partial = "";
  return new Writable({
    decodeStrings: false,
    write(chunk: Buffer | string, _encoding, callback) {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line.trim() !== "") emit(line);
      callback();
    },
    final(callback) {
      if (partial.trim() !== "") emit(partial);
      partial = "";
      callback();
    },
  });
}

/** pino's numeric levels; the worker writes its level as a word. */
const PINO_LEVELS: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};
/** Fields every line has or that the line already shows in its own place. */
const SHOWN_ELSEWHERE = new Set(["level", "time", "msg", "event", "pid", "hostname", "relay", "stack"]);

/**
 * `12:00:01 relay local  info   data plane listening  port=6000 host=127.0.0.1`. A line that
 * is not a JSON object (a workerd crash report, say) is shown as it came.
 */
export function formatLogLine(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return line;
  const fields = entry as Record<string, unknown>;
  const time = typeof fields.time === "number" ? new Date(fields.time) : new Date();
  const level =
    typeof fields.level === "number"
      ? (PINO_LEVELS[fields.level] ?? String(fields.level))
      : String(fields.level ?? "info");
  const source = typeof fields.relay === "string" ? `relay ${fields.relay}` : "worker";
  const message = String(fields.msg ?? fields.event ?? "");
  const details = Object.entries(fields)
    .filter(([key]) => !SHOWN_ELSEWHERE.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  const levelWord = level.padEnd(5);
  const shownLevel =
    level === "warn"
      ? yellow(levelWord)
      : level === "error" || level === "fatal"
        ? red(levelWord)
        : levelWord;
  const head = `${dim(time.toTimeString().slice(0, 8))} ${source.padEnd(12)} ${shownLevel} ${message}`;
  const stack = typeof fields.stack === "string" ? `\n${fields.stack.replace(/^/gm, "    ")}` : "";
  return `${details === "" ? head : `${head}  ${dim(details)}`}${stack}`;
}
