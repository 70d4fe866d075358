/**
 * The WebAssembly text of `src/walk.wat` assembled to base64 with WABT (a devDependency): shared by
 * `scripts/build-wasm.ts` and the test that checks `src/walk_wasm.ts` is up to date.
 *
 * @module
 */

import wabtModule from "wabt";

/** Assembles WebAssembly text to the base64 of its binary. */
export async function assembleWalk(wat: string): Promise<string> {
  const wabt = await wabtModule();
  const parsed = wabt.parseWat("walk.wat", wat);
  try {
    parsed.validate();
    const { buffer } = parsed.toBinary({});
    return Buffer.from(buffer).toString("base64");
  } finally {
    parsed.destroy();
  }
}
