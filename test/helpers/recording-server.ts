import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";

export interface RecordedRequest {
  path: string;
  body: string;
}

/** An HTTP status and the JSON body that goes with it. */
export type RecordedAnswer = [status: number, body: string];

/**
 * A stand-in for the worker on 127.0.0.1:0, for a file's tests: it records every request and
 * answers the first with `first`, the next with the next answer given, and every later one
 * with the last. Started before the file's first test, closed after its last.
 */
export function useRecordingServer(
  first: RecordedAnswer,
  ...later: RecordedAnswer[]
): { url: () => string; received: RecordedRequest[] } {
  const answers = [first, ...later];
  const received: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    req.on("end", () => {
      received.push({ path: req.url ?? "", body: text });
      const [status, body] = answers[Math.min(received.length, answers.length) - 1] ?? first;
      res.writeHead(status, { "content-type": "application/json" }).end(body);
    });
  });
  let url = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: () => url, received };
}
