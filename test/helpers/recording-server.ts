import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";

export interface RecordedRequest {
  path: string;
  body: string;
}

/**
 * A stand-in for the worker on 127.0.0.1:0, for a file's tests: it records every request and
 * answers each with `status` and the JSON `body`. Started before the file's first test,
 * closed after its last.
 */
export function useRecordingServer(
  status: number,
  body: string,
): { url: () => string; received: RecordedRequest[] } {
  const received: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    req.on("end", () => {
      received.push({ path: req.url ?? "", body: text });
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
