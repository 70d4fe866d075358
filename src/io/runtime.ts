/**
 * Which runtime this code runs on: the one place outside the adapters that looks at runtime globals.
 *
 * @module
 */

/** The runtimes this library supports. */
export type RuntimeName = "deno" | "bun" | "node";

/** The runtime this code runs on (any other is treated as Node-compatible). */
export const runtime: RuntimeName = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
