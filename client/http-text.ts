import * as http from "node:http";
import * as https from "node:https";

/** An HTTP answer read whole: ticket answers, revocation lists and worker errors are small. */
export interface TextResponse {
  status: number;
  text: string;
}

export interface TextRequest {
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
  /** Aborts the request and the body read. */
  signal: AbortSignal;
  /** An answer longer than this is refused, not read on. */
  maxBytes?: number;
}

/**
 * One request with node:http(s) and Node's global keep-alive agents, answered as text. Not
 * fetch: undici's fetch took about 1 ms more CPU per request than node:http on this
 * project's build machine (loopback, both measured in one process), and a ticket request
 * is on the path of every pair's setup.
 */
export function requestText(url: URL, request: TextRequest): Promise<TextResponse> {
  const client = url.protocol === "https:" ? https : http;
  const headers =
    request.body === undefined
      ? request.headers
      : { ...request.headers, "content-length": String(Buffer.byteLength(request.body)) };
  return new Promise((resolve, reject) => {
    const outgoing = client.request(
      url,
      { method: request.method, headers, signal: request.signal },
      (response) => {
        const chunks: Buffer[] = [];
        let length = 0;
        response.on("data", (chunk: Buffer) => {
          length += chunk.length;
          if (request.maxBytes !== undefined && length > request.maxBytes) {
            response.destroy();
            reject(new Error(`the answer is longer than ${request.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        response.on("error", reject);
        // An abort or a dropped connection mid-body may end the response without an error.
        response.on("close", () => {
          if (!response.complete) reject(new Error("the answer was cut short"));
        });
      },
    );
    outgoing.on("error", reject);
    outgoing.end(request.body);
  });
}
