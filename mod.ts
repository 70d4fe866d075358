/**
 * A crash-safe write-ahead log for Deno, Bun and Node, from one TypeScript source tree.
 *
 * @example
 * ```ts
 * import { WriteAheadLog } from "@wal/wal";
 * const wal = await WriteAheadLog.open(await Deno.makeTempDir(), { syncMode: "sync" });
 * await wal.append("PUT", "user:1", "alice");                  // 1
 * await wal.appendBatch([["PUT", "a", "1"], ["DELETE", "b"]]); // 4 (the COMMIT's seq)
 * const records = await wal.replay();                           // the 3 data records
 * await wal.close();
 * ```
 *
 * @module
 */

export { WriteAheadLog } from "./src/wal.ts";
export type { BatchOperation, ReadOptions, WalStats } from "./src/wal.ts";
export type { HistogramSummary } from "./src/stats.ts";
export { ReadOnlyLog } from "./src/readonly.ts";
export type { DamageFound, ReadOnlyFollowOptions, ReadOnlyOptions } from "./src/readonly.ts";
export type { FollowOptions } from "./src/follow.ts";
export type { WalRecord } from "./src/reader.ts";
export type { IoMode, SlowSyncInfo, SyncMode, WalOptions } from "./src/options.ts";
export type { RecoveryAction, RecoveryReport } from "./src/recovery.ts";
export type { Value, WriterStats } from "./src/writer.ts";
export type { OpenWriteOptions, WalFile, WalFileLock, WalFileSystem } from "./src/io/types.ts";
export {
  WalClosedError,
  WalCorruptionError,
  WalError,
  WalFailedError,
  WalFormatError,
  WalInvalidArgumentError,
  WalLockedError,
  WalReadError,
  WalTruncatedError,
} from "./src/errors.ts";
export type { CorruptionLocation, WalErrorCode } from "./src/errors.ts";
export { MAX_OP_TYPE_BYTES, MAX_PAYLOAD_BYTES } from "./src/format.ts";
