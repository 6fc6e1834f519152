/**
 * Bodies (callers' requests and backends' answers) are read with a byte budget checked
 * before reading (content-length) and while reading (a streamed count), so an oversized or
 * lying message never fills memory.
 */

/** OpenWhisk's invoke payload limit (conf action.payload = 1 MiB); the same 413 text as the controller. */
export const MAX_INVOKE_BODY_BYTES = 1_048_576;
/**
 * Entity PUTs carry action code, up to 48 MB in OpenWhisk. The body is held once in memory
 * because it goes to every backend; 48 MiB stays well inside a Worker's 128 MB.
 */
export const MAX_ENTITY_BODY_BYTES = 48 * 1024 * 1024;

export type BodyRead = { bytes: Uint8Array } | { tooLarge: number };

/** A request or a response: anything with headers and a body stream. */
export type BodyCarrier = Pick<Request, "headers" | "body">;

export async function readBoundedBody(message: BodyCarrier, limit: number): Promise<BodyRead> {
  const declared = Number(message.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) {
    await message.body?.cancel().catch(() => {});
    return { tooLarge: declared };
  }
  if (!message.body) return { bytes: new Uint8Array() };
  const reader = message.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return { tooLarge: size };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes };
}
