import { FlockError } from "../protocol/errors.ts";

/**
 * Exit codes scripts can rely on:
 *   0 success, 1 an expected failure (server said no, file missing, peer gone),
 *   2 usage error (bad flags), 3 a stream cut short (STREAM_TRUNCATED: some bytes may be
 *   missing, the line says how many arrived), 70 a bug (EX_SOFTWARE; stack only with --debug).
 */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_TRUNCATED = 3;
export const EXIT_BUG = 70;

/** An expected failure: one clear line for the user, no stack. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_FAILURE,
  ) {
    super(message);
    this.name = "UserError";
  }
}

const useColour = () => Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;

export function red(text: string): string {
  return useColour() ? `\x1b[31m${text}\x1b[0m` : text;
}

export function yellow(text: string): string {
  return useColour() ? `\x1b[33m${text}\x1b[0m` : text;
}

export function dim(text: string): string {
  return process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[2m${text}\x1b[0m` : text;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as an aligned table; columns are the keys of the first row's spec. */
export function printTable<T>(rows: T[], columns: Array<[header: string, cell: (row: T) => string]>): void {
  const cells = rows.map((row) => columns.map(([, cell]) => cell(row)));
  const widths = columns.map(([header], i) =>
    Math.max(header.length, ...cells.map((r) => r[i]?.length ?? 0)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${dim(line(columns.map(([h]) => h.toUpperCase())))}\n`);
  for (const r of cells) process.stdout.write(`${line(r)}\n`);
}

/** Progress for slow steps goes to stderr so stdout stays clean for pipes and --json. */
export function progress(message: string): void {
  if (process.stderr.isTTY) process.stderr.write(`${dim(`… ${message}`)}\n`);
}

/** The one place that turns an error into a line on stderr and an exit code. */
export function reportError(error: unknown, debug: boolean): number {
  if (error instanceof UserError) {
    process.stderr.write(`${red("error:")} ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof FlockError) {
    process.stderr.write(`${red("error:")} ${error.message} (${error.code})\n`);
    return error.code === "STREAM_TRUNCATED" ? EXIT_TRUNCATED : EXIT_FAILURE;
  }
  const text = debug && error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`${red("bug:")} ${text}\n`);
  if (!debug) process.stderr.write("Run again with --debug for the stack trace.\n");
  return EXIT_BUG;
}
