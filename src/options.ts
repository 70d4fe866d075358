/**
 * Options of `WriteAheadLog.open`, their defaults and their checks. Options passed in are copied, never
 * changed.
 *
 * @module
 */

import { WalInvalidArgumentError } from "./errors.ts";
import { RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE } from "./format.ts";
import type { WalFileSystem } from "./io/types.ts";

/**
 * When an append's promise resolves:
 * - `"sync"`: after its bytes are written and fdatasync'ed (survives power loss).
 * - `"batch"`: after the write reached the OS (survives a process crash); fdatasync every `batchSyncCount`
 *   records or `batchSyncIntervalMs`, whichever comes first.
 * - `"none"`: after the write reached the OS; fdatasync only on rotation, `sync()` and `close()`.
 */
export type SyncMode = "sync" | "batch" | "none";

/**
 * Where the writer's fdatasync runs:
 * - `"auto"` (default): like `"async"`, except that a group of one append is synced inline while the disk's
 *   fdatasync takes under 1 ms (a lone writer then pays no thread hop; the event loop waits at most that long),
 *   and "sync"-mode groups are flushed at the end of the event loop's turn, so that the appends of every
 *   callback of that turn share one fdatasync.
 * - `"async"`: off the event loop's thread (the runtime's thread pool), one group in flight while the next one
 *   forms from every append that arrives meanwhile, whatever callback it comes from. The event loop never waits
 *   for the disk.
 * - `"inline"`: a synchronous call on the event loop's thread, which then waits for the disk; groups form only
 *   from appends issued in the same turn of the event loop.
 * File systems without `datasyncAsync` (the `fs` option) always run inline.
 */
export type IoMode = "auto" | "async" | "inline";

/** What `onSlowSync` is told about a slow fdatasync besides its time. */
export interface SlowSyncInfo {
  /** The last seq the fdatasync made durable. */
  seq: number;
  /** Records written since the previous fdatasync, which this one made durable (0 for a sync of nothing new). */
  records: number;
}

/** Options of {@link WriteAheadLog.open}. Every field is optional. */
export interface WalOptions {
  /** When appends resolve; see {@link SyncMode}. Default `"sync"`. */
  syncMode?: SyncMode;
  /**
   * Size in bytes past which a new segment starts. Default 64 MiB; at least 64 (a segment header and the
   * smallest record). A bound, not a size: a unit (a record, or a batch with its COMMIT) larger than it gets a
   * segment of its own, so small values (such as 100) make a segment per record.
   */
  maxFileSize?: number;
  /** `"batch"` mode: fdatasync after this many records. Default 1000. */
  batchSyncCount?: number;
  /** `"batch"` mode: fdatasync at most this many milliseconds after an unsynced write. Default 100. */
  batchSyncIntervalMs?: number;
  /**
   * How much of the log `open` reads to find its valid end. `"full"` (default) checks every record of every
   * segment, streaming; `"tail"` checks only the newest segment (and every segment's header), so damage in
   * older segments is found only when a read reaches it.
   */
  verify?: "full" | "tail";
  /**
   * What `open` does with damage a crash cannot explain (a bad record with valid ones after it, a damaged
   * older segment, a missing segment). `"repair"` (default): keep the longest valid prefix, move the rest to a
   * quarantine file, report it in `wal.recovery`. `"strict"`: reject with WalCorruptionError and change nothing.
   * A torn tail of the newest segment, which any crash can leave, is cut (with a quarantine copy) in both modes,
   * and so are zeros after the last record. Both modes also finish a truncate a crash interrupted and remove
   * leftover `*.tmp` files before verifying: those complete the log's own operations rather than repair damage.
   */
  recovery?: "repair" | "strict";
  /** The file system to use; default: the runtime's own (Deno-native on Deno, `node:fs` on Node and Bun). */
  fs?: WalFileSystem;
  /** Where fdatasync runs; see {@link IoMode}. Default `"auto"`. */
  io?: IoMode;
  /**
   * Called after every fdatasync of a segment that took longer than `slowSyncMs`, with its time in milliseconds
   * (for an off-thread fdatasync, `io` "auto" or "async", the time includes the hop to the thread pool and back)
   * and what it made durable. It runs in a microtask after the write path is done with that sync; whatever it
   * throws (or a promise it returns rejects with) is ignored, so that monitoring never fails a write.
   *
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir(), {
   *   slowSyncMs: 500,
   *   onSlowSync: (ms, { seq, records }) => console.warn(`fdatasync took ${ms.toFixed(0)} ms (${records} records up to seq ${seq})`),
   * });
   * await wal.close();
   * ```
   */
  onSlowSync?: (ms: number, info: SlowSyncInfo) => void;
  /** The time in milliseconds above which an fdatasync is reported to `onSlowSync`. Default 1000 (1 s). */
  slowSyncMs?: number;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  syncMode: SyncMode;
  maxFileSize: number;
  batchSyncCount: number;
  batchSyncIntervalMs: number;
  verify: "full" | "tail";
  recovery: "repair" | "strict";
  fs: WalFileSystem | undefined;
  io: IoMode;
  slowSyncMs: number;
  onSlowSync: ((ms: number, info: SlowSyncInfo) => void) | undefined;
}

/** Default `slowSyncMs`: 1 s, the fdatasync time above which etcd warns. */
export const DEFAULT_SLOW_SYNC_MS = 1000;

/** Default segment size bound: 64 MiB. */
export const DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024;
/**
 * Smallest allowed `maxFileSize`: a segment's header plus the smallest record's header (a COMMIT or CHECKPOINT
 * has no payload). Every smaller bound would mean the same as this one (every record in a segment of its own),
 * so it is refused as a likely mistake (a size meant in KiB or MiB) rather than silently accepted.
 */
export const MIN_MAX_FILE_SIZE = SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE;

/** The longest delay timers honour (2^31 - 1 ms, about 24.8 days); longer ones fire at once on every runtime. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function positiveInteger(name: string, value: unknown, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    const rule = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new WalInvalidArgumentError(`options.${name}`, `must be ${rule}`);
  }
  return value;
}

/** What the log calls on a file system: an `fs` option must have every one of these as a function. */
const FILE_SYSTEM_METHODS = [
  "join", "realPath", "mkdirp", "list", "exists", "openRead", "openWrite", "readFile", "rename", "remove",
  "syncDir", "pid", "processAlive",
] as const;

function fileSystem(value: unknown): WalFileSystem | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null) {
    throw new WalInvalidArgumentError("options.fs", "must be an object implementing WalFileSystem");
  }
  for (const method of FILE_SYSTEM_METHODS) {
    if (typeof (value as Record<string, unknown>)[method] !== "function") {
      throw new WalInvalidArgumentError("options.fs", `must implement WalFileSystem: ${method}() is missing`);
    }
  }
  return value as WalFileSystem;
}

function nonNegative(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new WalInvalidArgumentError(`options.${name}`, "must be a finite number >= 0");
  }
  return value;
}

function callback<T>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") throw new WalInvalidArgumentError(`options.${name}`, "must be a function");
  return value as T;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (value === undefined) return allowed[0];
  if (typeof value !== "string" || !allowed.includes(value as T)) {
    throw new WalInvalidArgumentError(`options.${name}`, `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
  }
  return value as T;
}

/** Checks the options and fills in defaults. Throws WalInvalidArgumentError naming the bad field. */
export function resolveOptions(options: WalOptions | undefined): ResolvedOptions {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new WalInvalidArgumentError("options", "must be an object or undefined");
  }
  const o = options ?? {};
  return {
    syncMode: oneOf("syncMode", o.syncMode, ["sync", "batch", "none"] as const),
    maxFileSize: positiveInteger("maxFileSize", o.maxFileSize, DEFAULT_MAX_FILE_SIZE, MIN_MAX_FILE_SIZE),
    batchSyncCount: positiveInteger("batchSyncCount", o.batchSyncCount, 1000),
    batchSyncIntervalMs: positiveInteger("batchSyncIntervalMs", o.batchSyncIntervalMs, 100, 1, MAX_TIMER_MS),
    verify: oneOf("verify", o.verify, ["full", "tail"] as const),
    recovery: oneOf("recovery", o.recovery, ["repair", "strict"] as const),
    fs: fileSystem(o.fs),
    io: oneOf("io", o.io, ["auto", "async", "inline"] as const),
    slowSyncMs: nonNegative("slowSyncMs", o.slowSyncMs, DEFAULT_SLOW_SYNC_MS),
    onSlowSync: callback("onSlowSync", o.onSlowSync),
  };
}
