/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) of a byte range.
 *
 * Every supported runtime has a native one: Bun's `Bun.hash.crc32`, and `node:zlib`'s `crc32` on Node
 * (>= 22.2, 20.15) and Deno 2. A runtime without either (an older Node, say) gets the table-driven version
 * below: same values, several times slower, and no dependency to install. All give the same values, which
 * `tests/crc32_test.ts` checks against the `crc-32` package.
 *
 * The choice is made synchronously at load: no top-level await, so that `require()` of the package works.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { bunCrc32 } from "./io/runtime.ts";

type Crc32Fn = (data: Uint8Array) => number;

let table: Uint32Array | undefined;

/** The checksum computed in JavaScript, one table lookup per byte; for runtimes without a native CRC-32. */
export function crc32Portable(data: Uint8Array, seed = 0): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  const t = table;
  let crc = (seed ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, seed?: number) => number }).crc32;

/** True when checksums come from the runtime itself (`Bun.hash.crc32` or `node:zlib`), not from JavaScript. */
export const crc32IsNative: boolean = bunCrc32 !== undefined || typeof nativeCrc32 === "function";

/** The checksum of `data` as an unsigned 32-bit integer. */
export const crc32: Crc32Fn = bunCrc32 ??
  (typeof nativeCrc32 === "function" ? (data) => nativeCrc32(data) : crc32Portable);

/**
 * The checksum of the bytes before `data` (whose CRC-32 is `seed`) followed by `data`: a CRC-32 computed in
 * pieces, as of a file read in chunks.
 */
export const crc32Continue: (data: Uint8Array, seed: number) => number = bunCrc32 ??
  (typeof nativeCrc32 === "function" ? (data, seed) => nativeCrc32(data, seed) : crc32Portable);
