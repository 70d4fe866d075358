/**
 * Shared helpers of the unit suite: temporary directories and small file tricks. Tests use node:fs directly
 * (it is built into Deno, Bun and Node); the library itself reaches files only through src/io/.
 *
 * @module
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { WalTruncatedError } from "../mod.ts";
import type { WalRecord } from "../mod.ts";

/** A new empty directory under the OS temp directory. */
export function tempDir(prefix = "wal-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Removes a directory tree, ignoring errors. */
export function removeDir(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort: a temp dir left behind is harmless
  }
}

/** Runs `fn` with a fresh temp directory and removes it afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = tempDir();
  try {
    return await fn(dir);
  } finally {
    removeDir(dir);
  }
}

/** The `.wal` segment files of a log directory, full paths, in name (= seq) order. */
export function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort().map((n) => path.join(dir, n));
}

/** The runtime the suite runs on. */
export function runtimeName(): "deno" | "bun" | "node" {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

/**
 * What one step of a follower or stream did, as a string an assertion compares: "done", `yielded <seq>:<value>`,
 * "WalTruncatedError", or `threw <error>` for anything else.
 */
export async function stepOutcome(step: Promise<IteratorResult<WalRecord>>): Promise<string> {
  try {
    const r = await step;
    return r.done ? "done" : `yielded ${r.value.seqNum}:${r.value.value}`;
  } catch (e) {
    return e instanceof WalTruncatedError ? "WalTruncatedError" : `threw ${e}`;
  }
}
