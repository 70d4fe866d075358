/**
 * Assembles `src/walk.wat` into `src/walk_wasm.ts` (the module's bytes as base64, so that the library needs no
 * file, fetch or bundler step to load it). Run after changing the `.wat`: `node scripts/build-wasm.ts`.
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
const text = `/**
 * \`src/walk.wat\` assembled (by \`scripts/build-wasm.ts\`; do not edit): the bytes of the WebAssembly module
 * behind open's verification loop, as base64.
 *
 * @module
 */

/** The WebAssembly module assembled from \`src/walk.wat\`, base64-encoded. */
export const WALK_WASM_BASE64 =
  "${base64}";
`;
fs.writeFileSync(out, text);
console.log(`wrote ${path.relative(root, out)}: ${Buffer.from(base64, "base64").length} bytes of WebAssembly`);
