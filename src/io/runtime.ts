/**
 * Which runtime this code runs on: the one place outside the adapters that looks at runtime globals.
 *
 * @module
 */

/** The runtimes this library supports. */
export type RuntimeName = "deno" | "bun" | "node";

/** The runtime this code runs on (any other is treated as Node-compatible). */
export const runtime: RuntimeName = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** Bun's own CRC-32 (IEEE, same values as zlib's), ~25 % cheaper per call than its `node:zlib` one. */
export const bunCrc32: ((data: Uint8Array, seed?: number) => number) | undefined = (() => {
  const bun = (globalThis as { Bun?: { hash?: { crc32?: (data: Uint8Array, seed?: number) => number } } }).Bun;
  const fn = bun?.hash?.crc32;
  // The seed goes on from the CRC of the bytes before `data`, as zlib's does.
  return typeof fn === "function" ? (data: Uint8Array, seed?: number) => fn(data, seed) : undefined;
})();
