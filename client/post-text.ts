import * as http from "node:http";
import * as https from "node:https";

/** An HTTP answer read whole: ticket answers and worker errors are a few hundred bytes. */
export interface TextResponse {
  status: number;
  text: string;
}

/**
 * One POST with node:http(s) and Node's global keep-alive agents, answered as text. Not
 * fetch: undici's fetch took about 1 ms more CPU per request than node:http on this
 * project's build machine (loopback, both measured in one process), and a ticket request
 * is on the path of every pair's setup. `signal` aborts the request and the body read.
 */
export function postText(
  url: URL,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<TextResponse> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      { method: "POST", headers: { ...headers, "content-length": Buffer.byteLength(body) }, signal },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
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
    request.on("error", reject);
    request.end(body);
  });
}
