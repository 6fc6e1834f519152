/** SHA-256 digests (hex) of what tests send and receive, compared instead of whole payloads. */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";

export const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

/**
 * The digest of everything `stream` delivers until its end; rejects on an error. Calls
 * `midway` once, when `after` bytes have arrived.
 */
export function digestToEnd(
  stream: Readable,
  after = Number.POSITIVE_INFINITY,
  midway: () => void = () => {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let bytes = 0;
    stream.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      const before = bytes;
      bytes += chunk.length;
      if (before < after && bytes >= after) midway();
    });
    stream.once("end", () => resolve(hash.digest("hex")));
    stream.once("error", reject);
  });
}
