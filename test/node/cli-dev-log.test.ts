import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { devLogMode, formatLogLine, openDevLog } from "../../cli/local/dev-log.ts";

const PINO_LINE = JSON.stringify({
  level: 30,
  time: Date.UTC(2026, 0, 2, 3, 4, 5),
  pid: 1,
  hostname: "vm",
  relay: "local",
  port: 6000,
  metricsPort: null,
  msg: "data plane listening",
});
const WORKER_LINE = JSON.stringify({ event: "maintenance.sweep", removed: { tickets: 0 } });

function collect(stream: PassThrough): () => string {
  let text = "";
  stream.on("data", (chunk) => {
    text += chunk;
  });
  return () => text;
}

const write = (stream: NodeJS.WritableStream, text: string) =>
  new Promise<void>((resolve) => stream.write(text, () => resolve()));

describe("flock dev log lines", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("are JSON for --json, a log file or a stdout that is not a terminal; human only on a terminal", () => {
    expect(devLogMode({ stdoutIsTTY: true })).toBe("human");
    expect(devLogMode({ stdoutIsTTY: true, json: true })).toBe("json");
    expect(devLogMode({ stdoutIsTTY: true, logFile: "dev.log" })).toBe("json");
    expect(devLogMode({ stdoutIsTTY: false })).toBe("json");
  });

  it("shows a data plane line and a worker line as one human line each, without pid or hostname", () => {
    const relay = formatLogLine(PINO_LINE);
    expect(relay).toMatch(
      /^\d\d:\d\d:\d\d relay local +info +data plane listening {2}port=6000 metricsPort=null$/,
    );
    expect(formatLogLine(WORKER_LINE)).toMatch(
      /^\d\d:\d\d:\d\d worker +info +maintenance\.sweep {2}removed=\{"tickets":0\}$/,
    );
    const failure = formatLogLine(
      JSON.stringify({ level: "error", message: "boom", stack: "Error: boom\n  at x" }),
    );
    expect(failure).toMatch(/ worker +error +message=boom\n {4}Error: boom\n {4} {2}at x$/);
  });

  it("passes a line that is not a JSON object through as it came", () => {
    expect(formatLogLine("workerd: uncaught exception")).toBe("workerd: uncaught exception");
    expect(formatLogLine("[1,2]")).toBe("[1,2]");
  });

  it("holds human lines until the banner is out, and keeps two sources' partial lines apart", async () => {
    const out = new PassThrough();
    const text = collect(out);
    const log = openDevLog({ mode: "human", out });
    const worker = log.input();
    const relay = log.input();
    await write(worker, WORKER_LINE.slice(0, 10));
    await write(relay, `${PINO_LINE}\n`);
    await write(worker, `${WORKER_LINE.slice(10)}\n`);
    expect(text()).toBe("");
    log.release();
    const lines = text().trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("data plane listening");
    expect(lines[1]).toContain("maintenance.sweep");
    await write(relay, `${PINO_LINE}\n`);
    expect(text().trimEnd().split("\n")).toHaveLength(3);
    await log.close();
  });

  it("passes JSON lines through unchanged and at once in JSON mode", async () => {
    const out = new PassThrough();
    const text = collect(out);
    const log = openDevLog({ mode: "json", out });
    await write(log.input(), `${PINO_LINE}\n${WORKER_LINE}\n`);
    expect(text()).toBe(`${PINO_LINE}\n${WORKER_LINE}\n`);
    await log.close();
  });

  it("appends JSON lines to --log-file (mode 0600) and writes nothing to the terminal", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flock-dev-log-"));
    dirs.push(dir);
    const logFile = join(dir, "dev.log");
    const out = new PassThrough();
    const text = collect(out);
    const log = openDevLog({ mode: "json", out, logFile });
    await write(log.input(), `${PINO_LINE}\n`);
    await log.close();
    expect(await readFile(logFile, "utf8")).toBe(`${PINO_LINE}\n`);
    expect((await stat(logFile)).mode & 0o777).toBe(0o600);
    expect(text()).toBe("");
  });
});
