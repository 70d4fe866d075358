/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) of a byte range.
 *
 * Uses Bun's `Bun.hash.crc32` on Bun, `node:zlib`'s native `crc32` where the runtime has it (Node >= 22.2,
 * Deno 2), and the `crc-32` package otherwise; all give the same values, which `tests/format_test.ts` checks.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { bunCrc32 } from "./io/runtime.ts";

type Crc32Fn = (data: Uint8Array) => number;

/** The package fallback, loaded only when the runtime's zlib lacks `crc32`. */
async function loadFallback(): Promise<Crc32Fn> {
  const mod: { buf(data: Uint8Array, seed?: number): number } = await import("crc-32");
  return (data) => mod.buf(data) >>> 0;
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, seed?: number) => number }).crc32;

/** True when checksums come from the runtime's own `node:zlib`. */
export const crc32IsNative: boolean = typeof nativeCrc32 === "function";

/** The checksum of `data` as an unsigned 32-bit integer. */
export const crc32: Crc32Fn = bunCrc32 ?? (crc32IsNative ? (data) => nativeCrc32!(data) : await loadFallback());
