/**
 * The WebAssembly form of open's verification loop (`src/walk.wat`), and the read chunk it works on: a fresh
 * process pays no JIT warm-up for it (measured: the JavaScript loop costs 4-10 ms more on the first 200,000
 * records than once it is optimized), and it runs at about 3x the optimized loop's speed. Where WebAssembly is
 * unavailable, `walkChunk()` returns null and the scanner uses its JavaScript loop; both apply the same rules.
 *
 * @module
 */

import { CRC_CHAIN_RESET } from "./format.ts";
import { walkWasmBytes } from "./walk_wasm.ts";

/** Bytes of the chunk open reads segments into (the WebAssembly module's whole memory). */
export const WALK_CHUNK_BYTES = 1024 * 1024;

/** What `walk` leaves behind: the scan state just after the last record it took. */
export interface WalkState {
  /** The seq the next record must have. */
  expected: number;
  /** Batch members since the last complete unit. */
  pending: number;
  /** Chunk offset just past the last complete unit (meaningful when that unit is in the run). */
  unitEnd: number;
  /** Chunk offset of that unit's last record (meaningful with `unitEnd`). */
  unitStart: number;
  /** Seq of the last record of the last complete unit. */
  unitSeq: number;
  /** Chunk offset where the walk stopped. */
  end: number;
  /** The last record's own checksum (as a signed 32-bit integer). */
  last: number;
}

/** The loop over a chunk that lives in the module's memory. */
export interface ChunkWalker {
  /** The chunk: the module's memory. */
  readonly bytes: Uint8Array;
  /**
   * Takes plain data records from chunk offset `pos` up to `limit` (at most `maxRun` bytes of them unless the
   * first alone is longer), replacing their checksum fields with chain
   * resets (see `CRC_CHAIN_RESET`); `state` holds the scan state on entry (`expected`, `pending`, `unitEnd`,
   * `unitSeq`) and on return. Returns how many records it took.
   */
  walk(pos: number, limit: number, headerSize: number, large: number, maxRun: number, state: WalkState): number;
  /** Puts back the checksum fields of the `count` records a walk took from `pos`. */
  restore(pos: number, count: number, headerSize: number, last: number): void;
}

/** A WebAssembly global as JavaScript sees it. */
interface WasmGlobal {
  value: number;
}

interface WalkExports {
  walk(pos: number, limit: number, hs: number, large: number, reset: number, maxRun: number): number;
  restore(pos: number, count: number, hs: number, reset: number, last: number): void;
  expected: WasmGlobal;
  pending: WasmGlobal;
  unitEnd: WasmGlobal;
  unitStart: WasmGlobal;
  unitSeq: WasmGlobal;
  end: WasmGlobal;
  last: WasmGlobal;
}

/**
 * The part of the `WebAssembly` namespace used here, declared locally: the package's declarations must not need
 * the DOM or WebAssembly type libraries in a consumer's TypeScript setup.
 */
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}

let instance: ChunkWalker | null | undefined;
/** A scan holds the walker's chunk (see `leaseWalker`). */
let leased = false;

/**
 * The walker for one synchronous scan, or null when another scan holds it (a scan nested in another: a custom
 * file system's `read` may open another log) or WebAssembly is unavailable. One per thread, created on first use
 * (about 0.1 ms). The caller gives it back with `releaseWalker()` in a `finally`.
 */
export function leaseWalker(): ChunkWalker | null {
  if (leased) return null;
  const walker = walkChunk();
  if (walker !== null) leased = true;
  return walker;
}

/** Gives the walker back after `leaseWalker()`. */
export function releaseWalker(): void {
  leased = false;
}

/** The walker (not leased), or null where WebAssembly is unavailable. */
export function walkChunk(): ChunkWalker | null {
  if (instance !== undefined) return instance;
  try {
    instance = createWalker();
  } catch {
    instance = null;
  }
  return instance;
}

function createWalker(): ChunkWalker {
  const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) throw new Error("no WebAssembly");
  const pages = WALK_CHUNK_BYTES / 65536;
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const exports = new wasm.Instance(new wasm.Module(walkWasmBytes()), { env: { memory } }).exports as WalkExports;
  const bytes = new Uint8Array(memory.buffer, 0, WALK_CHUNK_BYTES);
  return {
    bytes,
    walk(pos, limit, headerSize, large, maxRun, state) {
      exports.expected.value = state.expected;
      exports.pending.value = state.pending;
      exports.unitEnd.value = state.unitEnd;
      exports.unitSeq.value = state.unitSeq;
      const count = exports.walk(pos, limit, headerSize, large, CRC_CHAIN_RESET, maxRun);
      state.expected = exports.expected.value;
      state.pending = exports.pending.value;
      state.unitEnd = exports.unitEnd.value;
      state.unitStart = exports.unitStart.value;
      state.unitSeq = exports.unitSeq.value;
      state.end = exports.end.value;
      state.last = exports.last.value;
      return count;
    },
    restore(pos, count, headerSize, last) {
      exports.restore(pos, count, headerSize, CRC_CHAIN_RESET, last);
    },
  };
}
