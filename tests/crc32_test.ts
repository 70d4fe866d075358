// The checksum: the runtime's native CRC-32 and the JavaScript fallback give the crc-32 package's values.
import { test } from "node:test";
import assert from "node:assert/strict";
import crc32Package from "crc-32";
import { crc32, crc32IsNative, crc32Portable } from "../src/crc32.ts";

test("CRC-32: native, fallback and the crc-32 package agree; every supported runtime has a native one", () => {
  assert.equal(crc32IsNative, true);
  let state = 12345;
  for (const n of [0, 1, 2, 3, 7, 8, 15, 16, 63, 64, 255, 256, 1000, 4099]) {
    const data = new Uint8Array(n).map(() => (state = (state * 1103515245 + 12345) >>> 0) >>> 24);
    const expected = crc32Package.buf(data) >>> 0;
    assert.equal(crc32(data), expected, `native, ${n} bytes`);
    assert.equal(crc32Portable(data), expected, `fallback, ${n} bytes`);
    // A view into a larger buffer checks only its own bytes.
    const framed = new Uint8Array(n + 6);
    framed.set(data, 3);
    assert.equal(crc32Portable(framed.subarray(3, 3 + n)), expected, `fallback on a view, ${n} bytes`);
  }
  assert.equal(crc32Portable(new TextEncoder().encode("123456789")), 0xcbf43926);
});
