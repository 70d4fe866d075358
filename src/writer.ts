/**
 * The append path: seq assignment, group commit, segment rotation and the sync policy.
 *
 * Appends are encoded into one buffer the moment they are called (so seqs follow call order) and flushed
 * together in a microtask: one write and at most one fdatasync for everything queued since the last flush.
 * Writes are synchronous calls (to the page cache: microseconds). With `io: "async"` the fdatasync runs off the
 * event loop's thread, and at most one group's fdatasync is in flight: every append that arrives meanwhile, from
 * whatever callback, joins the next group, which is written and synced the moment the previous one completes.
 * Groups therefore resolve in seq order, and a group is written only after the previous one is durable, so a
 * failure never leaves a durable group behind one that failed. With `io: "inline"`, or a file system without
 * `datasyncAsync`, the fdatasync is called inline and a flush runs to its end in one go. `io: "auto"` (the
 * default) flushes "sync"-mode groups at the end of the event loop's turn rather than in a microtask (so the
 * appends of every callback of that turn join), syncs a group of one append inline while the disk's fdatasync is
 * fast (a thread hop would cost a lone writer more than the sync itself), and everything else off the thread.
 *
 * @module
 */

import { setImmediate } from "node:timers";

import { crc32, crc32Continue } from "./crc32.ts";
import { encodeSegmentHeader, KIND_CHECKPOINT, KIND_COMMIT, SEGMENT_HEADER_SIZE } from "./format.ts";
import { RecordEncoder } from "./encoder.ts";
import { WalClosedError, WalFailedError } from "./errors.ts";
import type { WalError } from "./errors.ts";
import type { WalFile, WalFileSystem } from "./io/types.ts";
import { writeSeal } from "./seal.ts";
import { createSegment, segmentGeneration } from "./segment.ts";
import type { SegmentInfo } from "./segment.ts";
import type { IoMode, SlowSyncInfo, SyncMode } from "./options.ts";
import { Histogram } from "./stats.ts";

/** Zeros are preallocated this far ahead of the last record (never past maxFileSize). */
const PREALLOCATE_BYTES = 1024 * 1024;
const ZEROS = new Uint8Array(PREALLOCATE_BYTES);

/**
 * Longest stretch, in ms, that acknowledgements may follow each other in microtasks before the next one waits for
 * a turn of the event loop: an awaited append loop would otherwise starve timers and I/O for as long as it runs.
 */
const STARVE_MS = 5;

/** `io: "auto"`: an fdatasync slower than this (ms) sends even a lone append's sync off the event loop's thread. */
const INLINE_SYNC_MAX_MS = 1;

/**
 * `io: "auto"`: an off-thread fdatasync whose round trip (the sync plus the hop to the thread pool and back, which
 * alone can take ~1 ms on Bun) stays under this (ms) counts as a fast disk again, so lone appends go back inline.
 * Judging the round trip by INLINE_SYNC_MAX_MS would keep a lone writer off the thread for good on Bun, at ~0.1 x.
 */
const ASYNC_SYNC_FAST_MS = 3;

/** A value or a Uint8Array. */
export type Value = string | Uint8Array;

/** One operation of a batch. */
export interface BatchOp {
  opType: string;
  key: string;
  value: Value;
}

/** Something queued for the next flush: resolves with `seq` once the flush covers it. */
interface Unit {
  /** The seq the caller gets: the record's, or the batch COMMIT's. */
  seq: number;
  /** Seq of its first record (the first seq of the new segment when `rotate`). */
  firstSeq: number;
  /** Records in the unit. */
  records: number;
  /** Byte offset in the encoder just past the unit. */
  end: number;
  /** Starts a new segment. */
  rotate: boolean;
  /** Must be fdatasync'ed before it resolves, whatever the mode. */
  sync: boolean;
  resolve: (seq: number) => void;
  reject: (error: unknown) => void;
}

/** Settings of the writer, already validated. */
export interface WriterSettings {
  syncMode: SyncMode;
  maxFileSize: number;
  batchSyncCount: number;
  batchSyncIntervalMs: number;
  /** Where fdatasync runs; see {@link IoMode}. */
  io: IoMode;
  /** An fdatasync slower than this (ms) is reported to `onSlowSync`. */
  slowSyncMs: number;
  /** Told of every fdatasync slower than `slowSyncMs`; see `WalOptions.onSlowSync`. */
  onSlowSync: ((ms: number, info: SlowSyncInfo) => void) | undefined;
}

/**
 * Calls a slow-sync hook after the write path is done with the current step (a hook that appends must not run
 * in the middle of a flush), and drops whatever it throws or rejects with: monitoring never fails a write.
 */
function notifySlowSync(hook: (ms: number, info: SlowSyncInfo) => void, ms: number, info: SlowSyncInfo): void {
  queueMicrotask(() => {
    try {
      const result: unknown = hook(ms, info);
      if (result instanceof Promise) result.catch(() => {});
    } catch {
      // Ignored on purpose: see above.
    }
  });
}

/** Counters the tests and the benchmark read. */
export interface WriterStats {
  /** fdatasync calls on segments. */
  fsyncs: number;
  /** write calls on segments. */
  writes: number;
  /** Flushes (groups). */
  groups: number;
}

/** Owns the active segment and everything written to it. */
export class LogWriter {
  /** The segments, oldest first; the last is the one being appended to. */
  segments: SegmentInfo[];
  /** The next seq to hand out. */
  nextSeq: number;
  /** Counters. */
  readonly stats: WriterStats = { fsyncs: 0, writes: 0, groups: 0 };
  /** Records written (COMMIT and CHECKPOINT records included). */
  records = 0;
  /** Bytes of records written (segment headers and preallocated zeros not counted). */
  bytes = 0;
  /** Time of each successful fdatasync of a segment, in microseconds (off-thread ones include the thread hop). */
  readonly syncMicros: Histogram = new Histogram();
  /** Records per group that wrote records. */
  readonly groupRecords: Histogram = new Histogram();
  /**
   * Told of every write of records, while set: `bytes[from..to)` went to offset `at` of the active `segment`.
   * `read(seq)` sets it while it keeps an index of the active segment (see record_lookup.ts).
   */
  onWrite: ((segment: SegmentInfo, bytes: Uint8Array, from: number, to: number, at: number) => void) | null = null;
  /**
   * Called once each time acknowledged records become readable (`activeSize` advanced): how followers learn of
   * them without polling. Must be O(1) and must not throw (it runs inside a flush).
   */
  onVisible: () => void = () => {};

  #fs: WalFileSystem;
  #dir: string;
  #settings: WriterSettings;
  #file: WalFile;
  /** Where the next record goes in the active segment: the end of its last record. */
  #writePos: number;
  /** The active segment's size on disk: the records plus zeros preallocated after them. */
  #allocated: number;
  #plannedSize: number;
  #enc = new RecordEncoder();
  /**
   * Seq of the last record written to the active segment's file: what the next fdatasync makes durable. After
   * each successful fdatasync it becomes the encoder's `syncedThrough`, so that later records vouch for it
   * (`syncedBack` in format.ts); a failed fdatasync never advances it.
   */
  #writtenSeq = 0;
  #units: Unit[] = [];
  #scheduled = false;
  #unsynced = 0;
  /** Records acknowledged (resolved) since the last successful fdatasync: what `close()` still owes the disk. */
  #ackedUnsynced = 0;
  /** False after a preallocation failed (disk full): this segment grows by plain appends from then on. */
  #preallocating = true;
  /**
   * CRC-32 of the active segment's bytes written so far, kept from its header on when this writer created it (or
   * found it holding only its header), else null: only such a segment gets a seal when it is rotated away from.
   */
  #sealCrc: number | null = null;
  /** The active segment's cut generation (see format.ts): a segment rotation starts inherits it. */
  #generation = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #broken: WalError | null = null;
  #flushTask = () => this.flush();
  /** io "auto" in "sync" mode: flushes wait for the end of the event loop's turn (see the module doc). */
  #flushLate: boolean;
  /** io "auto": the last fdatasync took longer than INLINE_SYNC_MAX_MS. */
  #slowSync = false;
  /** A group's fdatasync is in flight (async io): flushes wait for it; what arrives meanwhile forms the next group. */
  #syncing = false;
  /** Callers of `drain` waiting for the in-flight group. */
  #waiters: (() => void)[] = [];
  /** Set by `close()`: appends are refused while it drains. */
  #closing = false;
  /** The handle is done with its files (closed, or superseded): nothing may write to them any more. */
  #abandoned = false;
  /** The active segment's file was closed. */
  #fileReleased = false;
  /** A file superseded while its fdatasync was in flight: closed when that completes. */
  #closeAfterSync = false;
  /** Where the acknowledged records of the active segment end: what reads may see. */
  #ackedPos: number;
  /** Acknowledgements waiting for a turn of the event loop (see STARVE_MS), in seq order. */
  #deferred: { seq: number; resolve: (seq: number) => void }[] = [];
  #deferredScheduled = false;
  #probing = false;
  #probeStart = 0;
  #onTurn = () => {
    this.#probing = false;
  };
  #releaseDeferred = () => {
    this.#deferredScheduled = false;
    const list = this.#deferred;
    this.#deferred = [];
    for (const d of list) d.resolve(d.seq);
  };
  /** True from a `#writeNow` until the end of that turn of the event loop. */
  #turnBusy = false;
  #endTurn = () => {
    this.#turnBusy = false;
  };

  /**
   * @param activeEnd where the last record of the active segment ends (recovery found it; zeros may follow)
   */
  constructor(
    fs: WalFileSystem,
    dir: string,
    segments: SegmentInfo[],
    nextSeq: number,
    activeEnd: number,
    settings: WriterSettings,
  ) {
    this.#fs = fs;
    this.#dir = dir;
    this.segments = segments;
    this.nextSeq = nextSeq;
    this.#settings = settings;
    this.#flushLate = settings.io === "auto" && settings.syncMode === "sync";
    const active = segments[segments.length - 1];
    this.#file = fs.openWrite(active.path, { create: false });
    // What recovery found may still be only in the page cache (a previous handle of this process that was
    // superseded, or a process that crashed in "batch" or "none" mode): make it durable before anything new is
    // written after it, so that a power cut can never keep a new record and lose an older one. From then on the
    // whole log so far is durable, and new records say so (syncedBack).
    try {
      this.#file.datasync();
    } catch (e) {
      this.#file.close();
      throw e;
    }
    this.#enc.syncedThrough = nextSeq - 1;
    this.#writtenSeq = nextSeq - 1;
    this.#writePos = activeEnd;
    this.#ackedPos = activeEnd;
    this.#allocated = this.#file.size();
    this.#plannedSize = activeEnd;
    this.#generation = segmentGeneration(fs, active.path);
    this.#sealCrc = this.#startSeal();
  }

  /** Why the writer refuses work, or null while it accepts it. */
  get broken(): WalError | null {
    if (this.#broken === null && this.#closing) return new WalClosedError();
    return this.#broken;
  }

  /** Nothing queued and no fdatasync in flight. */
  get idle(): boolean {
    return !this.#syncing && this.#units.length === 0;
  }

  /** Refuses all further work with `error` (closed, superseded, corrupt) and rejects anything still queued. */
  refuse(error: WalError): void {
    if (this.#broken === null) this.#broken = error;
    this.#rejectQueued(error);
    // Followers waiting for records wake and meet the refusal (see wal.ts follow).
    this.onVisible();
  }

  /**
   * Fails the handle after a write or fdatasync error (the first failure is the one reported, unless `replace`),
   * and wakes followers waiting for records, which then meet it (see wal.ts follow).
   */
  #fail(error: unknown, replace = false): void {
    if (replace || this.#broken === null) this.#broken = new WalFailedError(error);
    this.onVisible();
  }

  /** Queues one standalone record (or, see `#writeNow`, writes it at once). */
  append(opType: string, key: string, value: Value): Promise<number> {
    const start = this.#enc.length;
    const seq = this.nextSeq;
    this.#enc.data(seq, opType, key, value, false);
    this.nextSeq = seq + 1;
    if (start === 0 && !this.#turnBusy && !this.#syncing && this.#settings.syncMode !== "sync") {
      const size = this.#enc.length;
      if (this.#plannedSize + size <= this.#settings.maxFileSize) return this.#writeNow(seq, size);
    }
    return this.#queue(start, seq, seq, 1, false);
  }

  /**
   * The "batch"/"none" fast path for the first append of a turn of the event loop when nothing is queued: the
   * record goes to the OS now and the promise is born resolved, which saves the deferred flush (~25 % of the
   * cost of an awaited append). Later appends of the same turn queue as usual and go out together, so
   * pipelined appends still share one write. Not in "sync" mode: there an fdatasync per first append would
   * split every group in two.
   */
  #writeNow(seq: number, size: number): Promise<number> {
    this.#turnBusy = true;
    queueMicrotask(this.#endTurn);
    this.#plannedSize += size;
    try {
      this.#write(this.#enc.bytes, 0, size);
      this.#writtenSeq = seq;
      this.#enc.rewind(0);
      this.stats.groups++;
      this.records++;
      this.groupRecords.record(1);
      this.#unsynced++;
      if (this.#settings.syncMode === "batch" && this.#unsynced >= this.#settings.batchSyncCount) {
        // The record waits for the sync it triggers, like one queued in a group.
        return new Promise<number>((resolve, reject) => {
          this.#startSync([{ seq, firstSeq: seq, records: 1, end: 0, rotate: false, sync: true, resolve, reject }]);
        });
      }
      this.#ackedUnsynced++;
      this.#ackedPos = this.#writePos;
      this.onVisible();
      if (this.#settings.syncMode === "batch") this.#armTimer();
    } catch (error) {
      this.#enc.rewind(0);
      this.#fail(error);
      return Promise.reject(error);
    }
    if (this.#deferred.length > 0 || this.#starving()) {
      return new Promise<number>((resolve) => this.#defer(seq, resolve));
    }
    return Promise.resolve(seq);
  }

  /** True when acknowledgements have run for STARVE_MS without a turn of the event loop. */
  #starving(): boolean {
    const now = performance.now();
    if (!this.#probing) {
      this.#probing = true;
      this.#probeStart = now;
      setImmediate(this.#onTurn);
      return false;
    }
    return now - this.#probeStart > STARVE_MS;
  }

  #defer(seq: number, resolve: (seq: number) => void): void {
    this.#deferred.push({ seq, resolve });
    if (!this.#deferredScheduled) {
      this.#deferredScheduled = true;
      setImmediate(this.#releaseDeferred);
    }
  }

  /** Resolves units[from..to) in order, after a turn of the event loop if acknowledgements are starving it. */
  #resolve(units: Unit[], from: number, to: number): void {
    if (from >= to) return;
    if (this.#deferred.length > 0 || this.#starving()) {
      for (let i = from; i < to; i++) this.#defer(units[i].seq, units[i].resolve);
      return;
    }
    for (let i = from; i < to; i++) units[i].resolve(units[i].seq);
  }

  /** Queues a batch: its members and their COMMIT, all in one unit. Resolves to the COMMIT's seq. */
  appendBatch(ops: readonly BatchOp[]): Promise<number> {
    const start = this.#enc.length;
    const first = this.nextSeq;
    try {
      for (let i = 0; i < ops.length; i++) {
        this.#enc.data(first + i, ops[i].opType, ops[i].key, ops[i].value, true, `operations[${i}].value`);
      }
    } catch (e) {
      this.#enc.rewind(start);
      throw e;
    }
    const commit = first + ops.length;
    this.#enc.marker(commit, KIND_COMMIT);
    this.nextSeq = commit + 1;
    return this.#queue(start, first, commit, ops.length + 1, true);
  }

  /** Queues a CHECKPOINT record; resolves to its seq after an fdatasync. */
  checkpoint(): Promise<number> {
    const start = this.#enc.length;
    const seq = this.nextSeq;
    this.#enc.marker(seq, KIND_CHECKPOINT);
    this.nextSeq = seq + 1;
    return this.#queue(start, seq, seq, 1, true);
  }

  #queue(start: number, firstSeq: number, seq: number, records: number, sync: boolean): Promise<number> {
    const size = this.#enc.length - start;
    // A segment exceeds maxFileSize only when one unit alone is larger than it.
    let rotate = false;
    if (this.#plannedSize > SEGMENT_HEADER_SIZE && this.#plannedSize + size > this.#settings.maxFileSize) {
      rotate = true;
      this.#plannedSize = SEGMENT_HEADER_SIZE + size;
    } else {
      this.#plannedSize += size;
    }
    const promise = new Promise<number>((resolve, reject) => {
      this.#units.push({ seq, firstSeq, records, end: this.#enc.length, rotate, sync, resolve, reject });
    });
    this.#schedule();
    return promise;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#flushLate) setImmediate(this.#flushTask);
    else queueMicrotask(this.#flushTask);
  }

  /**
   * Writes (and, as the mode requires, syncs) everything queued. Runs by itself in a microtask, and again when
   * the in-flight fdatasync completes; while one is in flight it leaves the queue to form the next group.
   */
  flush(): void {
    this.#scheduled = false;
    if (this.#syncing) return;
    const units = this.#units;
    if (units.length === 0) return;
    this.#units = [];
    this.stats.groups++;
    const bytes = this.#enc.bytes;
    const total = this.#enc.length;
    let written = 0;
    let settled = 0;
    let mustSync = this.#settings.syncMode === "sync";
    let records = 0;
    try {
      for (let i = 0; i < units.length; i++) {
        const unit = units[i];
        records += unit.records;
        if (unit.sync) mustSync = true;
        if (!unit.rotate) continue;
        const start = i === 0 ? 0 : units[i - 1].end;
        written = this.#write(bytes, written, start);
        this.#writtenSeq = unit.firstSeq - 1;
        // The old segment loses its preallocated zeros and is made durable before the next one exists, so
        // the log never has a durable segment after a non-durable one.
        this.#trim();
        this.#datasync(this.#unsynced + records - unit.records);
        this.#seal(unit.firstSeq - 1);
        this.#resolve(units, settled, i);
        settled = i;
        this.#rotate(unit.firstSeq);
      }
      this.#write(bytes, written, total);
      // The encoder held every record not yet written: now all of them are.
      this.#writtenSeq = this.nextSeq - 1;
      this.records += records;
      if (records > 0) this.groupRecords.record(records);
      this.#unsynced += records;
      if (this.#settings.syncMode === "batch" && this.#unsynced >= this.#settings.batchSyncCount) mustSync = true;
      else if (!mustSync && this.#settings.syncMode === "batch") this.#armTimer();
    } catch (error) {
      // Never retried: after a failed fsync the kernel may have dropped the dirty pages (PostgreSQL, 2018).
      this.#enc.rewind(0);
      this.#fail(error);
      for (; settled < units.length; settled++) units[settled].reject(error);
      this.#rejectQueued(this.#broken);
      return;
    }
    this.#enc.rewind(0);
    if (mustSync) {
      this.#startSync(settled === 0 ? units : units.slice(settled));
      return;
    }
    this.#ackedUnsynced += records;
    this.#ackedPos = this.#writePos;
    this.onVisible();
    this.#resolve(units, settled, units.length);
  }

  /**
   * fdatasyncs what was written and then settles `units`: off the event loop's thread when the file system
   * can (io "async"), else inline. The next group is flushed as soon as this one is durable.
   */
  #startSync(units: Unit[]): void {
    const file = this.#file;
    const end = this.#writePos;
    const through = this.#writtenSeq;
    const records = this.#unsynced;
    this.stats.fsyncs++;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const io = this.#settings.io;
    if (
      file.datasyncAsync !== undefined &&
      (io === "async" || (io === "auto" && (units.length !== 1 || this.#slowSync)))
    ) {
      this.#syncing = true;
      const started = performance.now();
      let pending: Promise<void>;
      try {
        pending = file.datasyncAsync();
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        () => {
          const took = performance.now() - started;
          this.#slowSync = took > ASYNC_SYNC_FAST_MS;
          this.#timed(took, through, records);
          this.#synced(units, end, through, null);
        },
        (error: unknown) => this.#synced(units, end, through, error ?? new Error("fdatasync failed")),
      );
      return;
    }
    let failure: unknown = null;
    try {
      const started = performance.now();
      file.datasync();
      const took = performance.now() - started;
      this.#slowSync = took > INLINE_SYNC_MAX_MS;
      this.#timed(took, through, records);
    } catch (error) {
      failure = error ?? new Error("fdatasync failed");
    }
    this.#synced(units, end, through, failure);
  }

  /** Records a successful fdatasync's time and reports it if it was slow. */
  #timed(ms: number, seq: number, records: number): void {
    this.syncMicros.record(ms * 1000);
    const hook = this.#settings.onSlowSync;
    if (hook !== undefined && ms > this.#settings.slowSyncMs) notifySlowSync(hook, ms, { seq, records });
  }

  #synced(units: Unit[], end: number, through: number, error: unknown): void {
    this.#syncing = false;
    if (this.#closeAfterSync) {
      this.#closeAfterSync = false;
      this.#releaseFile();
    }
    if (error !== null) {
      // Never retried: after a failed fsync the kernel may have dropped the dirty pages (PostgreSQL, 2018).
      this.#fail(error);
      for (const unit of units) unit.reject(error);
      this.#rejectQueued(this.#broken);
    } else {
      this.#enc.syncedThrough = Math.max(this.#enc.syncedThrough, through);
      this.#unsynced = 0;
      this.#ackedUnsynced = 0;
      this.#ackedPos = end;
      this.onVisible();
      // Settle this group before the next one is written: a flush may settle its own units at once ("batch" and
      // "none" mode, or those before a rotation), and acknowledgements go out in seq order. Settling only queues
      // reactions, so the next group's write and fdatasync still start before any callback runs.
      this.#resolve(units, 0, units.length);
      if (this.#broken === null && this.#units.length > 0) this.flush();
    }
    const waiters = this.#waiters;
    if (waiters.length > 0 && !this.#syncing) {
      this.#waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Writes what is queued and waits until nothing is queued or in flight (its outcome is the units' own). */
  async drain(): Promise<void> {
    for (;;) {
      if (!this.#syncing) {
        this.flush();
        if (!this.#syncing) return;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #write(bytes: Uint8Array, from: number, to: number): number {
    if (to <= from) return to;
    this.stats.writes++;
    this.#file.writeAt(bytes.subarray(from, to), this.#writePos);
    if (this.#sealCrc !== null) this.#sealCrc = crc32Continue(bytes.subarray(from, to), this.#sealCrc);
    this.onWrite?.(this.segments[this.segments.length - 1], bytes, from, to, this.#writePos);
    this.bytes += to - from;
    this.#writePos += to - from;
    if (this.#writePos > this.#allocated) {
      this.#allocated = this.#writePos;
      if (this.#settings.syncMode === "sync" && this.#preallocating) this.#preallocate();
    }
    return to;
  }

  /**
   * Extends the active segment with zeros, so that the next records overwrite blocks that already exist and an
   * fdatasync of them need not update the file's size (measured: ~1.5x the syncs per second of appending).
   * Only in "sync" mode: without an fdatasync per group it buys nothing, and overwriting cached pages costs
   * ~25 % more per write than appending (measured on all three runtimes). Recovery reads zeros after the last
   * record as the end of the log.
   */
  #preallocate(): void {
    const target = Math.min(this.#allocated + PREALLOCATE_BYTES, this.#settings.maxFileSize);
    try {
      while (this.#allocated < target) {
        const n = Math.min(ZEROS.length, target - this.#allocated);
        this.#file.append(ZEROS.subarray(0, n));
        this.#allocated += n;
      }
    } catch {
      // The record itself is written; only the optional zeros failed (ENOSPC on a nearly full disk). Failing
      // the append here would report a record that is in the log as lost, and a retry would write it twice.
      // So: give the zeros' space back and grow this segment by plain appends. Nothing is hidden by this: a
      // sick disk fails the group's own fdatasync, which comes next.
      this.#preallocating = false;
      try {
        this.#file.truncate(this.#writePos);
        this.#allocated = this.#writePos;
      } catch {
        // Zeros left behind are harmless (recovery reads them as the end of the log); #trim retries at close.
        this.#allocated = Math.max(this.#writePos, this.#safeSize());
      }
    }
  }

  #safeSize(): number {
    try {
      return this.#file.size();
    } catch {
      return this.#writePos;
    }
  }

  /** Cuts the preallocated zeros off the active segment (before it is sealed or closed). */
  #trim(): void {
    if (this.#allocated > this.#writePos) {
      this.#file.truncate(this.#writePos);
      this.#allocated = this.#writePos;
    }
  }

  /**
   * An inline fdatasync (rotation): everything written is then durable.
   * @param records records it makes durable (for `onSlowSync`)
   */
  #datasync(records: number): void {
    this.stats.fsyncs++;
    const started = performance.now();
    this.#file.datasync();
    this.#timed(performance.now() - started, this.#writtenSeq, records);
    this.#enc.syncedThrough = Math.max(this.#enc.syncedThrough, this.#writtenSeq);
    this.#unsynced = 0;
    this.#ackedUnsynced = 0;
    this.#ackedPos = this.#writePos;
    this.onVisible();
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #armTimer(): void {
    if (this.#timer !== undefined || this.#unsynced === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#broken !== null || this.#unsynced === 0 || this.#syncing) return;
      // A failure fails the log (see #synced): the next append, sync or close reports it.
      this.#startSync([]);
    }, this.#settings.batchSyncIntervalMs);
    // Node and Bun timers can be unref'ed so a pending background sync does not hold the process open.
    const t = this.#timer as unknown as { unref?: () => void };
    if (typeof t === "object" && typeof t.unref === "function") t.unref();
  }

  /**
   * Writes the seal of the active segment, durable (fdatasync'ed) up to its last record `lastSeq` and about to be
   * left for a new one (see format.ts). None for a segment whose bytes this writer has no checksum of.
   */
  #seal(lastSeq: number): void {
    const active = this.segments[this.segments.length - 1];
    if (this.#sealCrc === null || lastSeq < active.firstSeq) return;
    writeSeal(this.#fs, active, { firstSeq: active.firstSeq, lastSeq, size: this.#writePos, segmentCrc: this.#sealCrc });
  }

  /** The seal checksum to start the active segment with: known only while it holds nothing but its header. */
  #startSeal(): number | null {
    if (this.#writePos !== SEGMENT_HEADER_SIZE) return null;
    return crc32(encodeSegmentHeader(this.segments[this.segments.length - 1].firstSeq, undefined, this.#generation));
  }

  #rotate(firstSeq: number): void {
    const segment = createSegment(this.#fs, this.#dir, firstSeq, undefined, this.#generation);
    const file = this.#fs.openWrite(segment.path, { create: false });
    this.#file.close();
    this.#file = file;
    this.#writePos = SEGMENT_HEADER_SIZE;
    this.#ackedPos = SEGMENT_HEADER_SIZE;
    this.#allocated = SEGMENT_HEADER_SIZE;
    this.#preallocating = true;
    this.segments.push(segment);
    this.#sealCrc = this.#startSeal();
  }

  #rejectQueued(error: unknown): void {
    const units = this.#units;
    if (units.length === 0) return;
    this.#units = [];
    this.#enc.rewind(0);
    for (const unit of units) unit.reject(error);
  }

  /** Writes what is queued and fdatasyncs it, as a group of its own. Rejects with the OS error on failure. */
  sync(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#units.push({
        seq: 0,
        firstSeq: this.nextSeq,
        records: 0,
        end: this.#enc.length,
        rotate: false,
        sync: true,
        resolve: () => resolve(),
        reject,
      });
      this.#schedule();
    });
  }

  /**
   * Replaces the active segment (after truncate rewrote or recreated it). The caller has made the new
   * segment durable and updated the segment list.
   */
  reopenActive(): void {
    this.#file.close();
    const active = this.segments[this.segments.length - 1];
    this.#file = this.#fs.openWrite(active.path, { create: false });
    this.#writePos = this.#file.size();
    this.#ackedPos = this.#writePos;
    this.#allocated = this.#writePos;
    this.#plannedSize = this.#writePos;
    this.#preallocating = true;
    this.#generation = segmentGeneration(this.#fs, active.path);
    this.#sealCrc = this.#startSeal();
  }

  /**
   * Goes on at `nextSeq` after `truncateAfter` cut the log's tail: reopens the newest segment (the caller updated
   * `segments`, cut the file and made the whole log up to nextSeq - 1 durable) and resets the encoder's state to
   * it. Records written from now on claim durability (`syncedBack`) of seqs below nextSeq only, never of a
   * removed seq that will be handed out again. Only while idle.
   */
  resetTail(nextSeq: number): void {
    // The cut left a new, empty segment for nextSeq newest (see truncate_after.ts), unless it emptied the cut one.
    this.reopenActive();
    this.nextSeq = nextSeq;
    this.#writtenSeq = nextSeq - 1;
    this.#enc.syncedThrough = nextSeq - 1;
    this.#unsynced = 0;
    this.#ackedUnsynced = 0;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * Bytes of the active segment holding acknowledged records: what a reader may read up to. A group whose
   * fdatasync is in flight is not visible yet, since it may still fail.
   */
  get activeSize(): number {
    return this.#ackedPos;
  }

  /** Bytes of the active segment holding records written (acknowledged or not): where the next write goes. */
  get writtenSize(): number {
    return this.#writePos;
  }

  /**
   * Flushes, trims, syncs and releases the file. Throws the OS error if the last flush or sync fails, and the
   * WalFailedError of an earlier failure (a background fdatasync of "batch" mode, say) while records it
   * acknowledged were never synced: close must not resolve as if they were durable.
   */
  async close(): Promise<void> {
    if (this.#abandoned) return;
    this.#closing = true;
    try {
      // Waits for a group in flight (and writes what is queued) whatever the state: the file stays open for it.
      const before = this.#broken;
      await this.drain();
      // Superseded while draining: the file is the new handle's now, and abandon() released this one's.
      if (this.#abandoned) return;
      if (before === null && this.#broken !== null) throw this.#broken;
      if (this.#broken instanceof WalFailedError && this.#ackedUnsynced > 0) throw this.#broken;
      // Also when refused for damage a read found: what was written before is good and gets its fdatasync.
      if (!(this.#broken instanceof WalFailedError)) {
        try {
          this.#trim();
          this.stats.fsyncs++;
          const file = this.#file;
          const started = performance.now();
          if (this.#settings.io !== "inline" && file.datasyncAsync !== undefined) await file.datasyncAsync();
          else file.datasync();
          this.#timed(performance.now() - started, this.#writtenSeq, this.#unsynced);
          this.#unsynced = 0;
          this.#ackedUnsynced = 0;
        } catch (error) {
          this.#fail(error, true);
          throw error;
        }
      }
    } finally {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      if (!this.#abandoned) {
        this.#broken = new WalClosedError();
        this.#abandoned = true;
      }
      this.#releaseFile();
    }
  }

  /** Releases the file without writing anything further (the handle was superseded). */
  abandon(error: WalError): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.refuse(error);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // A sync in flight, or a close() under way, releases the file when it is done with it.
    if (this.#syncing) {
      this.#closeAfterSync = true;
      return;
    }
    if (!this.#closing) this.#releaseFile();
  }

  /** Closes the active segment's file once; errors are dropped (the handle is going, the disk keeps its state). */
  #releaseFile(): void {
    if (this.#fileReleased) return;
    this.#fileReleased = true;
    try {
      this.#file.close();
    } catch {
      // The handle is being dropped; the next owner recovers from what is on disk.
    }
  }
}
