/**
 * Assembles `src/walk.wat` into `src/walk_wasm.ts` (the module's bytes as an array literal, so that the library
 * needs no file, fetch or bundler step to load it). Run after changing the `.wat`: `node scripts/build-wasm.ts`.
 * `tests/walk_test.ts` fails while the two disagree.
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assembleWalk } from "./wasm_assemble.ts";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const base64 = await assembleWalk(fs.readFileSync(path.join(root, "src", "walk.wat"), "utf8"));
const out = path.join(root, "src", "walk_wasm.ts");
const bytes = [...Buffer.from(base64, "base64")];
const lines: string[] = [];
for (let i = 0; i < bytes.length; i += 24) lines.push("    " + bytes.slice(i, i + 24).join(", ") + ",");
const text = `/**
 * \`src/walk.wat\` assembled (by \`scripts/build-wasm.ts\`; do not edit): the bytes of the WebAssembly module
 * behind open's verification loop. A literal, not base64: decoding base64 costs a fresh Bun process ~4 ms.
 *
 * @module
 */

/** The WebAssembly module assembled from \`src/walk.wat\`, as a new array on each call. */
export function walkWasmBytes(): Uint8Array {
  return new Uint8Array([
${lines.join("\n")}
  ]);
}
`;
fs.writeFileSync(out, text);
console.log(`wrote ${path.relative(root, out)}: ${bytes.length} bytes of WebAssembly`);
