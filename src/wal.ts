/**
 * The `WriteAheadLog` class: ties the lock, recovery, the writer and the reader together behind the public API.
 *
 * @module
 */

import {
  WalClosedError,
  WalCorruptionError,
  WalError,
  WalFailedError,
  WalFormatError,
  WalInvalidArgumentError,
  WalReadError,
  WalTruncatedError,
} from "./errors.ts";
import { SEGMENT_HEADER_SIZE } from "./format.ts";
import { defaultFileSystem } from "./io/default.ts";
import type { WalFileSystem } from "./io/types.ts";
import { errorCode } from "./io/types.ts";
import { acquireLock } from "./lock.ts";
import type { DirectoryLock } from "./lock.ts";
import { resolveOptions } from "./options.ts";
import type { ResolvedOptions, SyncMode, WalOptions } from "./options.ts";
import { LogCursor } from "./cursor.ts";
import { FollowHub, Followers, followLog, followStart } from "./follow.ts";
import { HeldCalls } from "./held_calls.ts";
import type { BegunFollow, FollowOptions, FollowSlot, FollowSource, FollowState } from "./follow.ts";
import { ReadOnlyLog } from "./readonly.ts";
import type { ReadOnlyOptions } from "./readonly.ts";
import type { WalRecord } from "./reader.ts";
import { checkLogDirectory, recoverLog } from "./recovery.ts";
import { RecordLookup } from "./record_lookup.ts";
import { lowestToCome, OpenStreams, throwIfEnded } from "./streams.ts";
import type { StreamSlot, StreamState } from "./streams.ts";
import type { RecoveryReport } from "./recovery.ts";
import { truncateLog } from "./truncate.ts";
import { findCutPoint, truncateAfterLog } from "./truncate_after.ts";
import type { CutPoint } from "./truncate_after.ts";
import { checkBatch, checkKey, checkOpType, checkReadOptions, checkReadSignal, checkSeq, checkValue } from "./validate.ts";
import { LogWriter } from "./writer.ts";
import type { BatchOp, Value, WriterStats } from "./writer.ts";
import type { HistogramSummary } from "./stats.ts";

/**
 * Records a streaming read decodes at a time. Small on purpose: records held across the consumer's awaits
 * survive young-generation collections and get promoted; 128 instead of 1024 took Node's peak RSS streaming a
 * 327 MB log from 167 MB to 115 MB at the same throughput (±2 %).
 */
const STREAM_CHUNK = 128;
/**
 * Bytes of records (as stored) a streaming read decodes at a time, whatever their number: with 2 MiB values,
 * 128 records would be 256 MiB held before the first is yielded.
 */
const STREAM_STEP_BYTES = 4 * 1024 * 1024;

/** One operation of `appendBatch`: `[opType, key, value?]` or `{ opType, key, value? }`. */
export type BatchOperation =
  | readonly [opType: string, key: string, value?: Value]
  | { readonly opType: string; readonly key: string; readonly value?: Value };

/** Options of `replay`, `replayStream` and `iterate`. */
export interface ReadOptions {
  /** Only records with seq greater than this (exclusive). Default 0: from the start. */
  afterSeq?: number;
  /**
   * Ends a stream (`replayStream`, `iterate`) when it aborts: the stream's next step rejects with the signal's
   * `reason` (a DOMException named "AbortError" when `abort()` was given none, as with `fetch`) and its file
   * descriptor is released at once, without waiting for that step. A signal aborted before the read begins
   * rejects its first step (for `replay`: the call) and opens nothing. Not an AbortSignal: WalInvalidArgumentError.
   *
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
   * await wal.append("PUT", "k", "v");
   * const controller = new AbortController();
   * try {
   *   for await (const record of wal.replayStream({ signal: controller.signal })) {
   *     console.log(record.key);
   *     controller.abort(); // e.g. the client went away: stop reading and release the file now
   *   }
   * } catch (e) {
   *   if (!(e instanceof DOMException && e.name === "AbortError")) throw e;
   * }
   * await wal.close();
   * ```
   */
  signal?: AbortSignal;
}

/**
 * What {@link WriteAheadLog.stats} returns: the write path's counters since `open`, the segments as they are now,
 * and what `open` found. Percentiles come from log-scale buckets: at most 12.5 % above the true value (never above
 * `max`, which is exact).
 */
export interface WalStats extends WriterStats {
  /** Records written since `open` (COMMIT and CHECKPOINT records included). */
  records: number;
  /** Bytes of records written since `open` (segment headers and preallocated zeros not counted). */
  bytes: number;
  /**
   * Time of each successful fdatasync of a segment since `open`, in microseconds. An fdatasync run off the event
   * loop's thread (`io` "auto" or "async") is timed from the call to its completion, so it includes the hop to the
   * thread pool and back.
   */
  syncLatencyMicros: HistogramSummary;
  /** Records per group commit (one write, at most one fdatasync) that wrote records, since `open`. */
  groupRecords: HistogramSummary;
  /** Segment files of the log now. */
  segments: number;
  /**
   * Their bytes now: headers and records (the newest segment up to its last acknowledged record; zeros
   * preallocated after it are not counted).
   */
  segmentBytes: number;
  /** What `open` found and did: the same object as {@link WriteAheadLog.recovery}. */
  recovery: RecoveryReport;
}

/**
 * A write-ahead log in one directory.
 *
 * @example
 * ```ts
 * import { WriteAheadLog } from "@wal/wal";
 * const dir = await Deno.makeTempDir();
 * const wal = await WriteAheadLog.open(dir);
 * await wal.append("PUT", "user:1", "alice"); // 1
 * for (const r of await wal.replay()) console.log(r.seqNum, r.opType, r.key, r.value);
 * await wal.close();
 * ```
 */
export class WriteAheadLog {
  /** The log's directory, as given to `open` (the handle itself uses the real path `open` resolved it to). */
  readonly dir: string;
  /** What `open` found and did to make the log consistent. */
  readonly recovery: RecoveryReport;
  /** The sync mode in force. */
  readonly syncMode: SyncMode;

  #fs: WalFileSystem;
  /** The directory's real path, resolved once by `open`: every file operation goes through it. */
  #path: string;
  #writer: LogWriter;
  #lock: DirectoryLock;
  #closed = false;
  #streams = new OpenStreams();
  /** Live followers, and the generation they wait on (the writer resolves it once per visible advance). */
  #followers: Followers;
  #hub = new FollowHub();
  /** Sizes of sealed segments (which never change) by name, so `stats()` reads each one once. */
  #sealedSizes = new Map<string, number>();
  /** Write calls made while a `truncateAfter` runs, issued after it (see {@link truncateAfter}). */
  #held: HeldCalls;
  /** `close()` is waiting for held calls: new calls are refused as after a close. */
  #closingHeld = false;
  /** The last seq each open stream may yield: the log's last seq when it began (appends after it are not read). */
  #streamEnds = new WeakMap<StreamState, number>();
  /** The indexes and descriptors of `read(seq)`. */
  #lookup: RecordLookup;

  /** @ignore Internal: handles come from {@link WriteAheadLog.open}. */
  private constructor(
    dir: string,
    path: string,
    fs: WalFileSystem,
    writer: LogWriter,
    lock: DirectoryLock,
    report: RecoveryReport,
    options: ResolvedOptions,
  ) {
    this.dir = dir;
    this.#path = path;
    this.#fs = fs;
    this.#writer = writer;
    this.#lookup = new RecordLookup(fs, writer);
    this.#lock = lock;
    this.recovery = report;
    this.syncMode = options.syncMode;
    this.#followers = new Followers(fs);
    this.#held = new HeldCalls(() => this.#writer.broken);
    const hub = this.#hub;
    writer.onVisible = () => hub.wake();
  }

  /**
   * Opens (creating if needed) the log in `dir`: takes the directory lock, verifies the log and repairs a torn
   * tail (see `recovery`), and resumes numbering after the last valid record.
   *
   * @throws WalLockedError if another process, thread or path holds the directory.
   * @throws WalCorruptionError with `recovery: "strict"` when the log has damage a crash cannot explain.
   * @throws WalFormatError for a newer format version or a directory that is not a log.
   * @throws WalInvalidArgumentError for a bad `dir` or option.
   */
  static async open(dir: string, options?: WalOptions): Promise<WriteAheadLog> {
    if (typeof dir !== "string" || dir.length === 0) throw new WalInvalidArgumentError("dir", "must be a non-empty string");
    if (dir.includes("\0")) throw new WalInvalidArgumentError("dir", "must not contain NUL characters");
    const resolved = resolveOptions(options);
    const fs = resolved.fs ?? await defaultFileSystem();
    // Every later file operation uses the directory's real path, looked up once here: a relative path after a
    // chdir, or a symlink switched to another directory, must never send this handle's records elsewhere.
    const path = openDirectory(fs, dir);
    // A directory that is not a log is refused before anything (the LOCK file) is created in it.
    checkLogDirectory(fs, path);
    const lock = acquireLock(fs, path);
    let writer: LogWriter | undefined;
    let wal: WriteAheadLog;
    try {
      const recovered = recoverLog(fs, path, resolved);
      writer = new LogWriter(fs, path, recovered.segments, recovered.nextSeq, recovered.activeEnd, resolved);
      wal = new WriteAheadLog(dir, path, fs, writer, lock, recovered.report, resolved);
      // Only a fully successful open takes the lock over from an earlier handle of this thread.
      lock.commit({ supersede: () => wal.#supersede() });
    } catch (e) {
      writer?.abandon(new WalClosedError("the open of this log failed"));
      lock.release();
      if (e instanceof WalError) throw e;
      throw new WalError(`opening the log in ${dir} failed (${e instanceof Error ? e.message : e})`, { cause: e });
    }
    return wal;
  }

  /**
   * Opens the log in `dir` for reading only, beside a writer in this or another process: it verifies every
   * record and reads up to the last complete one, and never writes, repairs, creates anything or takes the
   * directory lock (on Deno it needs only `--allow-read`). The handle has the read calls (`replay`,
   * `replayStream`, `iterate`, `read`, `currentSeqNum`, `close`), `recovery` (what `open` would do; nothing is done),
   * `damage` (where the valid log ends because of damage, or null), and `refresh()` to see later appends.
   *
   * @throws WalFormatError when `dir` is missing, not a directory, not a log, or of a newer format version.
   * @throws WalInvalidArgumentError for a bad `dir` or option.
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const dir = await Deno.makeTempDir();
   * const wal = await WriteAheadLog.open(dir);
   * await wal.append("PUT", "user:1", "alice");
   * const reader = await WriteAheadLog.openReadOnly(dir);
   * console.log(reader.currentSeqNum(), (await reader.replay()).length); // 1 1
   * await wal.append("PUT", "user:2", "bob");
   * await reader.refresh(); // 2
   * await reader.close();
   * await wal.close();
   * ```
   */
  static openReadOnly(dir: string, options?: ReadOnlyOptions): Promise<ReadOnlyLog> {
    return ReadOnlyLog.open(dir, options);
  }

  #supersede(): void {
    // Also while a close() of this handle is still draining: from now on the files are the new handle's, and the
    // rest of that close (trimming the zeros, which would cut the new handle's records) must not touch them.
    this.#closed = true;
    this.#streams.end(() => new WalClosedError("the log was opened again in this process; this stream is ended"));
    this.#followers.end(() => new WalClosedError("the log was opened again in this process; this follower is ended"));
    this.#writer.abandon(new WalClosedError("the log was opened again in this process; this handle is superseded"));
    this.#lookup.reset();
  }

  #check(): WalError | null {
    if (this.#closingHeld) return new WalClosedError();
    return this.#writer.broken;
  }

  /**
   * Appends one record; resolves to its seq once it is as durable as the sync mode promises.
   *
   * @param opType "PUT", "DELETE" or an application's own name (not "COMMIT" or "CHECKPOINT"; 1-255 bytes)
   * @param key a string
   * @param value a string (read back as a string) or a Uint8Array (read back as a Uint8Array); default ""
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
   * const seq = await wal.append("PUT", "user:1", "alice");
   * await wal.close();
   * ```
   */
  append(opType: string, key: string, value: Value = ""): Promise<number> {
    const broken = this.#check();
    if (broken !== null) return Promise.reject(broken);
    try {
      checkOpType(opType);
      checkKey(key);
      checkValue(value);
      if (this.#held.active) {
        // Copied now: the caller may reuse its buffer once the call returned, as it may when nothing is held.
        const kept = typeof value === "string" ? value : value.slice();
        return this.#held.hold(() => this.#writer.append(opType, key, kept), false);
      }
      return this.#writer.append(opType, key, value);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Appends operations atomically: after a crash either all of them are replayed or none. Uses one seq per
   * operation plus one for the COMMIT record that closes the batch; resolves to the COMMIT's seq after an
   * fdatasync, whatever the sync mode.
   */
  appendBatch(operations: readonly BatchOperation[]): Promise<number> {
    const broken = this.#check();
    if (broken !== null) return Promise.reject(broken);
    try {
      const ops: BatchOp[] = checkBatch(operations);
      if (this.#held.active) {
        const kept = ops.map((op) => ({ ...op, value: typeof op.value === "string" ? op.value : op.value.slice() }));
        return this.#held.hold(() => this.#writer.appendBatch(kept), false);
      }
      return this.#writer.appendBatch(ops);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Appends a CHECKPOINT record; resolves to its seq after an fdatasync. `replay({ afterSeq })` resumes from it. */
  checkpoint(): Promise<number> {
    const broken = this.#check();
    if (broken !== null) return Promise.reject(broken);
    if (this.#held.active) return this.#held.hold(() => this.#writer.checkpoint(), false);
    return this.#writer.checkpoint();
  }

  /**
   * The last seq handed out (including appends not yet resolved); 0 for a fresh log. While a `truncateAfter` is
   * pending, the appends held behind it have no seq yet and are not counted.
   */
  currentSeqNum(): number {
    return this.#writer.nextSeq - 1;
  }

  /**
   * The seq of the oldest record still in the log: 1 for a fresh log, `n + 1` after `truncate(n)`. A log that holds
   * no record (fresh, or truncated past its end) answers `currentSeqNum() + 1`, the seq the next record will get,
   * so `currentSeqNum() - firstSeqNum() + 1` is always the number of seqs the log holds. That oldest record may be a
   * batch member or a COMMIT or CHECKPOINT, which `replay` leaves out; `iterate({ afterSeq: firstSeqNum() - 1 })`
   * starts with it.
   *
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
   * console.log(wal.firstSeqNum(), wal.currentSeqNum()); // 1 0
   * for (let i = 0; i < 5; i++) await wal.append("PUT", `k${i}`, "v");
   * await wal.truncate(3);
   * console.log(wal.firstSeqNum(), wal.currentSeqNum()); // 4 5
   * await wal.close();
   * ```
   */
  firstSeqNum(): number {
    return Math.min(this.#writer.segments[0].firstSeq, this.#writer.nextSeq);
  }

  /**
   * The record with seq `seq`, or `undefined` when there is none: before {@link firstSeqNum} (removed by
   * `truncate`), or after the last acknowledged record. Only acknowledged records are read, as by `replay`: a record
   * is read once it is as durable as the sync mode promises (when its append resolves, or under a flood of appends
   * one turn of the event loop before); one still queued, or whose group's fdatasync is in flight, is `undefined`.
   * A batch is one unit: its members are read together once it is durable (never a member without its COMMIT). COMMIT
   * and CHECKPOINT records are returned as `iterate` yields them (opType "COMMIT" / "CHECKPOINT", key and value "").
   *
   * One positioned read per record (for records up to 4 MiB), through an index of record offsets (4 bytes per
   * record): the newest segment's is built by the first read into it and kept current by the writer; an older
   * segment's is built by the first read into it (one pass over its headers) and kept for the 4 most recently read
   * older segments. The record's checksum is verified on every read.
   *
   * @param seq an integer >= 0
   * @throws WalInvalidArgumentError for a `seq` that is not an integer >= 0.
   * @throws WalCorruptionError when the record is damaged; appends are then refused until the log is reopened.
   * @throws WalReadError when the file system fails; WalClosedError once the handle is closed.
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
   * await wal.append("PUT", "user:1", "alice"); // 1
   * await wal.appendBatch([["PUT", "a", "1"]]); // 2, COMMIT 3
   * console.log(await wal.read(1)); // { seqNum: 1, opType: "PUT", key: "user:1", value: "alice" }
   * console.log((await wal.read(3))?.opType); // "COMMIT"
   * console.log(await wal.read(4)); // undefined: past the end
   * await wal.close();
   * ```
   */
  async read(seq: number): Promise<WalRecord | undefined> {
    const writer = this.#writer;
    const broken = writer.broken;
    if (broken !== null && !(broken instanceof WalCorruptionError)) throw broken;
    // Refused for damage and then closed (or superseded): the files are no longer this handle's to read.
    if (this.#closed) throw new WalClosedError();
    checkSeq(seq, "seq");
    if (seq >= writer.nextSeq || seq < this.firstSeqNum()) return undefined;
    try {
      return this.#lookup.read(writer.segments, seq, writer.activeSize, writer.writtenSize);
    } catch (e) {
      if (!(e instanceof WalError)) throw new WalReadError(e);
      if (e instanceof WalCorruptionError) {
        const error = new WalCorruptionError(
          e,
          "damage found while reading; appends are refused until the log is reopened, which repairs it:",
        );
        writer.refuse(error);
        throw error;
      }
      throw e;
    }
  }

  /**
   * The committed data records (PUT, DELETE and application records, never COMMIT or CHECKPOINT, never a
   * member of a batch whose COMMIT is missing), in seq order, in one array. For logs larger than memory use
   * {@link replayStream}.
   *
   * @throws WalCorruptionError if a read meets damage (possible only with `verify: "tail"`).
   */
  async replay(options?: ReadOptions): Promise<WalRecord[]> {
    const { cursor } = this.#cursor(options, true);
    const out: WalRecord[] = [];
    this.#fill(cursor, out, Infinity);
    return out;
  }

  /**
   * The same records as {@link replay}, streamed: memory stays bounded by the read chunk (4 MiB) or the
   * largest batch, whatever the log's size.
   *
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
   * for await (const record of wal.replayStream({ afterSeq: 0 })) console.log(record.key);
   * await wal.close();
   * ```
   */
  replayStream(options?: ReadOptions): AsyncGenerator<WalRecord, void, undefined> {
    return this.#watched(options, true);
  }

  /** Every record as stored, COMMIT and CHECKPOINT records included (their key and value are ""). */
  iterate(options?: ReadOptions): AsyncGenerator<WalRecord, void, undefined> {
    return this.#watched(options, false);
  }

  /**
   * The committed records (as {@link replayStream} yields them: data records, never COMMIT or CHECKPOINT, a
   * batch whole and only once its COMMIT is) after `afterSeq`, in seq order, without end: first those in the log,
   * then each new one as soon as it is acknowledged, across segment rotations. Nothing polls: the writer wakes
   * the followers, all of them with one promise per flush whatever their number. A follower reads the segment
   * files itself, so one that falls behind reads more from disk and costs the writer nothing.
   *
   * A record is yielded once it is as durable as the sync mode promises: in `"sync"` mode after its group's
   * fdatasync completed; in `"batch"` and `"none"` mode once it is written to the OS (when its `append`
   * resolves), before the fdatasync that makes it durable; a batch (and a checkpoint) always after its fdatasync.
   *
   * It ends on the signal's abort (its next step rejects with the signal's `reason`), on `return()` (a `break`
   * out of `for await`), and cleanly (`done`) on `close()`, without yielding what it had not yet yielded: resume
   * with `afterSeq` set to the last seq seen. A `truncate(n)` that removes records it has not yet yielded ends it
   * with WalTruncatedError; any other truncate leaves it going. `afterSeq` is checked against the log as it is
   * when `follow` is called, and the follower is subject to truncates, `close()` and its signal from then on, also
   * before its first step (whichever ends it first is what that step reports).
   *
   * @throws WalInvalidArgumentError for a bad `afterSeq` or `signal` (on the first step).
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
   * await wal.append("PUT", "a", "1");
   * const controller = new AbortController();
   * const seen = (async () => {
   *   const keys: string[] = [];
   *   for await (const record of wal.follow({ afterSeq: 0, signal: controller.signal })) {
   *     keys.push(record.key);
   *     if (keys.length === 2) break; // or keep going until close() ends the loop
   *   }
   *   return keys;
   * })();
   * await wal.append("PUT", "b", "2"); // the follower wakes as soon as this is acknowledged
   * console.log(await seen); // ["a", "b"]
   * await wal.close();
   * ```
   */
  follow(options?: FollowOptions): AsyncGenerator<WalRecord, void, undefined> {
    const slot: FollowSlot = { state: null };
    // Checked and registered now, against the log as the caller sees it: a truncateAfter or close held behind
    // earlier calls reaches this follower even if its first step comes after them.
    let begun: BegunFollow | { error: unknown };
    try {
      begun = this.#beginFollow(options, slot);
    } catch (error) {
      begun = { error };
    }
    const generator = this.#follow(begun, slot);
    this.#followers.watch(generator, slot);
    return generator;
  }

  #beginFollow(options: FollowOptions | undefined, slot: FollowSlot): BegunFollow {
    const broken = this.#check();
    if (broken !== null && !(broken instanceof WalCorruptionError)) throw broken;
    const afterSeq = checkReadOptions(options);
    const signal = checkReadSignal(options);
    const writer = this.#writer;
    const hub = this.#hub;
    const from = followStart(options?.afterSeq === undefined ? undefined : afterSeq, this.firstSeqNum(), this.currentSeqNum());
    const source: FollowSource = {
      segments: () => writer.segments,
      activeEnd: () => writer.activeSize,
      changed: () => hub.next(),
      fill: (state: FollowState, out, limit, maxBytes) => {
        const more = this.#fill(state.cursor, out, limit, maxBytes);
        // Everything acknowledged is yielded; then a handle that refuses appends (a failed write path, damage
        // found) ends the follower with its error, once no group is in flight: a group whose fdatasync was under
        // way when appends were refused is still acknowledged, and yielded first.
        if (out.length === 0 && !more && writer.broken !== null && writer.idle) throw writer.broken;
        return more;
      },
    };
    return { state: this.#followers.begin(slot, source, from, options?.afterSeq === undefined, signal), source };
  }

  async *#follow(
    begun: BegunFollow | { error: unknown },
    slot: FollowSlot,
  ): AsyncGenerator<WalRecord, void, undefined> {
    if ("error" in begun) throw begun.error;
    yield* followLog(this.#followers, begun.source, begun.state, slot);
  }

  #watched(options: ReadOptions | undefined, committedOnly: boolean): AsyncGenerator<WalRecord, void, undefined> {
    const slot: StreamSlot = { state: null };
    const generator = this.#stream(options, committedOnly, slot);
    this.#streams.watch(generator, slot);
    return generator;
  }

  #cursor(options: ReadOptions | undefined, committedOnly: boolean): { cursor: LogCursor; signal: AbortSignal | undefined } {
    const broken = this.#check();
    if (broken !== null && !(broken instanceof WalCorruptionError)) throw broken;
    const afterSeq = checkReadOptions(options);
    const signal = checkReadSignal(options);
    // Before the cursor exists: an aborted read opens nothing.
    signal?.throwIfAborted();
    const cursor = new LogCursor(this.#fs, this.#writer.segments, this.#writer.activeSize, afterSeq, committedOnly);
    return { cursor, signal };
  }

  /** Runs one step of a read; damage found by it stops appends until the log is reopened. */
  #fill(cursor: LogCursor, out: WalRecord[], limit: number, maxBytes?: number): boolean {
    try {
      return cursor.fill(out, limit, maxBytes);
    } catch (e) {
      cursor.close();
      if (!(e instanceof WalError)) throw new WalReadError(e);
      if (e instanceof WalCorruptionError) {
        const error = new WalCorruptionError(
          e,
          "damage found while reading; appends are refused until the log is reopened, which repairs it:",
        );
        this.#writer.refuse(error);
        throw error;
      }
      throw e;
    }
  }

  async *#stream(
    options: ReadOptions | undefined,
    committedOnly: boolean,
    slot: StreamSlot,
  ): AsyncGenerator<WalRecord, void, undefined> {
    const { cursor, signal } = this.#cursor(options, committedOnly);
    const chunk: WalRecord[] = [];
    const state: StreamState = { cursor, position: cursor.afterSeq, chunk, next: 0, more: true, ended: null };
    this.#streams.add(slot, state);
    this.#streamEnds.set(state, this.#writer.nextSeq - 1);
    // The descriptor is released when the signal aborts, not when the consumer next steps (it may never).
    const onAbort = () => this.#streams.abort(state, signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      while (state.more) {
        chunk.length = 0;
        state.next = 0;
        throwIfEnded(state);
        state.more = this.#fill(cursor, chunk, STREAM_CHUNK, STREAM_STEP_BYTES);
        while (state.next < chunk.length) {
          // A truncate or close while the consumer held the previous record: nothing it removed is yielded.
          throwIfEnded(state);
          const record = chunk[state.next++];
          state.position = record.seqNum;
          yield record;
        }
      }
      throwIfEnded(state);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#streams.remove(slot);
      cursor.close();
    }
  }

  /**
   * Removes every record with seq <= `upToSeq` (all records if it is past the end); the rest keep their seqs
   * and numbering continues where it was. Crash-safe: a crash leaves the log as before or as after.
   */
  async truncate(upToSeq: number): Promise<void> {
    const broken = this.#check();
    if (broken !== null) throw broken;
    checkSeq(upToSeq, "upToSeq");
    if (this.#held.active) return this.#held.hold(() => this.#truncate(upToSeq), true);
    return this.#truncate(upToSeq);
  }

  async #truncate(upToSeq: number): Promise<void> {
    const writer = this.#writer;
    // Rewrites files under the writer: only once nothing is queued or in flight (checked with no await after).
    while (!writer.idle) await writer.drain();
    if (writer.broken !== null) throw writer.broken;
    const upTo = Math.min(upToSeq, writer.nextSeq - 1);
    if (upTo < writer.segments[0].firstSeq) return;
    const activeBefore = writer.segments[writer.segments.length - 1].name;
    this.#streams.end((s) => lowestToCome(s) <= upTo ? new WalTruncatedError(upTo, s.position) : null);
    this.#followers.end((s) => !s.fromOldest && lowestToCome(s) <= upTo ? new WalTruncatedError(upTo, s.position) : null);
    try {
      writer.segments = truncateLog(this.#fs, this.#path, upTo);
      this.#lookup.retain(writer.segments);
      if (writer.segments[writer.segments.length - 1].name !== activeBefore) writer.reopenActive();
      this.#streams.retarget(writer.segments, writer.activeSize);
      this.#followers.retarget(writer.segments, writer.activeSize);
    } catch (e) {
      // Damage in the segment to copy from: nothing changed, but appends stop until a reopen repairs it (as
      // when a read meets damage). Any other failure left the truncate half done: the handle fails.
      this.#lookup.reset();
      const why = e instanceof WalCorruptionError ? e : new WalFailedError(e);
      writer.refuse(why);
      if (why instanceof WalFailedError) this.#followers.end(() => why);
      throw e;
    }
  }

  /**
   * Removes every record with seq > `n`, so that numbering continues at `n + 1`: a raft follower drops the
   * conflicting tail of its log this way before it appends the leader's entries. Resolves once the cut is durable;
   * `currentSeqNum()` then says where the log ends. Crash-safe: a crash leaves the log as before or as after.
   *
   * - A batch is kept or removed whole: when `n` falls inside one (a member, so its COMMIT is after `n`), the whole
   *   batch goes and numbering continues at its first member's seq, so `currentSeqNum()` ends up below `n`.
   * - `n >= currentSeqNum()`: nothing is removed. `n` from `firstSeqNum() - 1` up removes records; below that
   *   (records `truncate` already removed, whose contents the log cannot compare) is refused with
   *   WalInvalidArgumentError, and so is anything not a non-negative safe integer.
   * - Appends (and batches, checkpoints, syncs, truncates) called before it are written first and get their seqs
   *   as usual; the cut then removes those above `n`. Write calls made after it and before it resolves wait behind
   *   it (in call order) and get their seqs after the cut: the first append gets `currentSeqNum() + 1` as it is
   *   once the cut is done. Every seq an append resolves to is the seq its record has in the log.
   * - A stream (`replayStream`, `iterate`) that may still yield a removed record ends: its next step throws
   *   WalTruncatedError (`after` true). Streams that end at or before the cut go on.
   *
   * @param n the seq to keep through
   * @throws WalInvalidArgumentError for a bad `n`.
   * @throws WalCorruptionError (the log untouched) if the segment to cut holds damage a read has not yet met
   *   (possible only with `verify: "tail"`).
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
   * for (let i = 1; i <= 5; i++) await wal.append("PUT", `entry:${i}`, "term 1");
   * await wal.truncateAfter(3); // entries 4 and 5 conflict with the leader's log
   * console.log(wal.currentSeqNum()); // 3
   * console.log(await wal.append("PUT", "entry:4", "term 2")); // 4
   * await wal.close();
   * ```
   */
  truncateAfter(n: number): Promise<void> {
    const broken = this.#check();
    if (broken !== null) return Promise.reject(broken);
    try {
      checkSeq(n, "n");
      this.#checkCutFloor(n);
    } catch (e) {
      return Promise.reject(e);
    }
    // Always held, so that every write call made before it resolves is held behind it.
    return this.#held.hold(() => this.#truncateAfter(n), true);
  }

  #checkCutFloor(n: number): void {
    const floor = this.firstSeqNum() - 1;
    if (n < floor) {
      throw new WalInvalidArgumentError(
        "n",
        `must be at least firstSeqNum() - 1 (${floor}): the records before it were removed by truncate`,
      );
    }
  }

  async #truncateAfter(n: number): Promise<void> {
    const writer = this.#writer;
    // Cuts files under the writer: only once nothing is queued or in flight (checked with no await after).
    while (!writer.idle) await writer.drain();
    if (writer.broken !== null) throw writer.broken;
    if (n >= writer.nextSeq - 1) return;
    // A truncate that ran in between may have raised the floor.
    this.#checkCutFloor(n);
    let cut: CutPoint;
    try {
      cut = findCutPoint(this.#fs, writer.segments, writer.activeSize, n);
    } catch (e) {
      // Damage in the segment to cut: nothing changed, but appends stop until a reopen repairs it.
      writer.refuse(e instanceof WalCorruptionError ? e : new WalReadError(e));
      throw e instanceof WalError ? e : new WalReadError(e);
    }
    const keep = cut.keepThrough;
    const ends = this.#streamEnds;
    this.#streams.end((s) => mayYieldAfter(s, ends.get(s) ?? Infinity, keep) ? new WalTruncatedError(keep, s.position, true) : null);
    try {
      writer.segments = truncateAfterLog(this.#fs, this.#path, cut);
      writer.resetTail(keep + 1);
      // Followers that yielded a removed seq end (those seqs will name other records); the others read on.
      this.#followers.cutAfter(keep, writer.segments, writer.activeSize, (s) => new WalTruncatedError(keep, s.position, true));
      // The cut segment is shorter than the size cached for it.
      this.#sealedSizes.clear();
      // Segments are only removed, shortened in place or created empty: read(seq)'s indexes lose what was cut.
      this.#lookup.dropAfter(keep);
      this.#lookup.retain(writer.segments, writer.writtenSize === SEGMENT_HEADER_SIZE);
    } catch (e) {
      this.#lookup.reset();
      // Whatever step failed, the handle cannot know the files' state: it fails; a reopen finishes the cut.
      const failure = new WalFailedError(e);
      writer.refuse(failure);
      // Followers end now, without yielding what they still hold: records after the cut may be gone on reopen.
      this.#followers.end(() => failure);
      throw e;
    }
  }

  /** Writes anything queued and fdatasyncs the active segment. */
  async sync(): Promise<void> {
    const broken = this.#check();
    if (broken !== null) throw broken;
    if (this.#held.active) return this.#held.hold(() => this.#writer.sync(), false);
    await this.#writer.sync();
  }

  /** Writes and syncs anything queued, releases the files and the lock. Closing twice is a no-op. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#streams.end(() => new WalClosedError("the log was closed while this stream was open"));
    this.#lookup.reset();
    try {
      if (this.#held.active) {
        // Calls held behind a truncateAfter were made before close: they are issued, and then written by it.
        // Followers go on meanwhile, so that a cut among those calls ends the ones it overtakes as it should.
        this.#closingHeld = true;
        await this.#held.drained();
      }
      // A follower's consumer loop ends as at the end of a finite stream: close is how a live log stops.
      this.#followers.end(() => "done");
      await this.#writer.close();
    } finally {
      this.#followers.end(() => "done");
      this.#lookup.reset();
      this.#lock.release();
    }
  }

  /**
   * Closes the log: `await using wal = await WriteAheadLog.open(dir)` closes it when the scope ends.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * A snapshot of the write path's figures since `open` (fsyncs, writes, groups, records, bytes, fdatasync time,
   * records per group), the segments now and the recovery report; see {@link WalStats}. Memory stays constant
   * however long the log runs (the histograms are fixed arrays of buckets). Reads the size of each sealed segment
   * once (cached after).
   *
   * @throws WalReadError if a segment's size cannot be read.
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
   * await Promise.all([wal.append("PUT", "a", "1"), wal.append("PUT", "b", "2")]);
   * const s = wal.stats();
   * console.log(s.records, s.fsyncs, s.groupRecords.max, s.syncLatencyMicros.p99, s.segments, s.segmentBytes);
   * await wal.close();
   * ```
   */
  stats(): WalStats {
    const writer = this.#writer;
    const segments = writer.segments;
    const sizes = this.#sealedSizes;
    let segmentBytes = writer.activeSize;
    const sealed = new Set<string>();
    for (let i = 0; i < segments.length - 1; i++) {
      const seg = segments[i];
      sealed.add(seg.name);
      let size = sizes.get(seg.name);
      if (size === undefined) {
        try {
          const file = this.#fs.openRead(seg.path);
          try {
            size = file.size();
          } finally {
            file.close();
          }
        } catch (e) {
          throw e instanceof WalError ? e : new WalReadError(e);
        }
        sizes.set(seg.name, size);
      }
      segmentBytes += size;
    }
    // Segments a truncate removed.
    for (const name of sizes.keys()) if (!sealed.has(name)) sizes.delete(name);
    return {
      ...writer.stats,
      records: writer.records,
      bytes: writer.bytes,
      syncLatencyMicros: writer.syncMicros.summary(),
      groupRecords: writer.groupRecords.summary(),
      segments: segments.length,
      segmentBytes,
      recovery: this.recovery,
    };
  }
}

/**
 * Whether a stream may still yield a record with seq > keep: it ends at `end` (the log's last seq when it began),
 * so one whose end is at or before the cut goes on; otherwise what it has decoded and not yet yielded, or what
 * its cursor may still read, reaches past the cut.
 */
function mayYieldAfter(state: StreamState, end: number, keep: number): boolean {
  if (state.more) return end > keep && lowestToCome(state) <= end;
  return state.next < state.chunk.length && state.chunk[state.chunk.length - 1].seqNum > keep;
}

/**
 * Creates `dir` if needed and returns its real path; OS errors become WalErrors that name the directory.
 */
function openDirectory(fs: WalFileSystem, dir: string): string {
  try {
    fs.mkdirp(dir);
    return fs.realPath(dir);
  } catch (e) {
    const code = errorCode(e);
    if (code === "EEXIST" || code === "ENOTDIR") throw new WalFormatError(dir, "it is not a directory");
    // mkdir -p meets ENOENT only on a symbolic link whose target is missing.
    if (code === "ENOENT") throw new WalFormatError(dir, "it is a symbolic link to a missing directory");
    if (code === "ENAMETOOLONG") throw new WalInvalidArgumentError("dir", "the path (or a name in it) is too long");
    throw new WalError(`cannot create or open the directory ${dir} (${e instanceof Error ? e.message : e})`, { cause: e });
  }
}
