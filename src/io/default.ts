/**
 * Picks the file-system adapter for the runtime this code runs on. The Deno adapter is imported lazily so that
 * Node and Bun never load it, and the `node:fs` one only where it is used.
 *
 * @module
 */

import { runtime } from "./runtime.ts";
import type { WalFileSystem } from "./types.ts";

let cached: WalFileSystem | undefined;

/** The adapter for the current runtime: Deno-native on Deno, `node:fs` on Node and Bun. */
export async function defaultFileSystem(): Promise<WalFileSystem> {
  if (cached) return cached;
  if (runtime === "deno") {
    const { createDenoFileSystem } = await import("./deno_fs.ts");
    cached = createDenoFileSystem();
  } else {
    const { nodeFileSystem } = await import("./node_fs.ts");
    cached = nodeFileSystem;
  }
  return cached;
}
