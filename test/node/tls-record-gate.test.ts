import { describe, expect, it } from "vitest";
import { MAX_TLS_RECORD_BYTES, tlsRecordLength } from "../../dataplane/tls-record-gate.ts";

function header(length: number): Buffer {
  const bytes = Buffer.from([0x16, 3, 3, 0, 0]);
  bytes.writeUInt16BE(length, 3);
  return bytes;
}

describe("tlsRecordLength", () => {
  it("waits for a header, then for the body it announces, up to MAX_TLS_RECORD_BYTES", () => {
    expect(tlsRecordLength(header(10).subarray(0, 4))).toBeUndefined();
    expect(tlsRecordLength(header(MAX_TLS_RECORD_BYTES))).toBe(5 + MAX_TLS_RECORD_BYTES);
  });

  it("counts a record announcing more than MAX_TLS_RECORD_BYTES as what has arrived, so nobody waits for it", () => {
    const arrived = Buffer.concat([header(MAX_TLS_RECORD_BYTES + 1), Buffer.alloc(7)]);
    expect(tlsRecordLength(arrived)).toBe(arrived.length);
  });
});
