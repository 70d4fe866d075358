/**
 * A read-only handle on a log: it reads what `open` would find, and never writes, never repairs and never takes
 * the directory lock, so it works beside a live writer in another process (and on Deno with `--allow-read`
 * only).
 *
 * It sees the log as `open` with `recovery: "repair"` would leave it: the longest valid gapless prefix, up to the
 * last complete unit (a standalone record, a COMMIT with its batch, a CHECKPOINT). What a live writer is still
 * writing, a batch without its COMMIT, a torn tail and damage are not read; `recovery` lists what `open` would do
 * about them, and `damage` says where the valid log ends when something there is damage rather than the end.
 *
 * A live writer can be mid-write where the scan ends: a stop in the newest segment is read again after a short
 * pause, and is reported only if it stays where it was.
 *
 * @module
 */

import {
  WalClosedError,
  WalCorruptionError,
  WalError,
  WalInvalidArgumentError,
  WalReadError,
  WalTruncatedError,
} from "./errors.ts";
import type { CorruptionLocation } from "./errors.ts";
import { SEGMENT_HEADER_SIZE } from "./format.ts";
import { defaultFileSystem } from "./io/default.ts";
import type { WalFileSystem } from "./io/types.ts";
import { errorCode } from "./io/types.ts";
import { LogCursor } from "./cursor.ts";
import { ReadBuffer } from "./reader.ts";
import type { WalRecord } from "./reader.ts";
import { checkLogDirectory, isOwnTempName, plannedRepair, refuseNewerVersions, scanLog } from "./recovery.ts";
import type { LogScan, RecoveryAction, RecoveryReport } from "./recovery.ts";
import { RecordLookup } from "./record_lookup.ts";
import { listSegments } from "./segment.ts";
import { TRUNCATE_FILE } from "./truncate.ts";
import { checkReadOptions, checkReadSignal, checkSeq } from "./validate.ts";
import { Followers, followLog, followStart } from "./follow.ts";
import type { FollowOptions, FollowSlot, FollowSource } from "./follow.ts";
import { checkPollMs, mayHaveGrown, Poller } from "./follow_poll.ts";
import { NO_TAIL, tailStamp } from "./tail_stamp.ts";
import { lowestToCome } from "./streams.ts";
import { capView, endOf, pendingTruncateView, realDirectory, refreshView, sizeOf, withPrior } from "./readonly_view.ts";
import type { View } from "./readonly_view.ts";

/** Options of {@link ReadOnlyLog.open} (and `WriteAheadLog.openReadOnly`). Every field is optional. */
export interface ReadOnlyOptions {
  /** The file system to use; default: the runtime's own. Only its read calls are used. */
  fs?: WalFileSystem;
  /**
   * Told the bytes read so far and the log's total size after each segment the opening scan reads (for a
   * progress display).
   */
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  /**
   * Check every record's own checksum, also in the segments whose seal vouches for them (default false: such a
   * segment is checked with one CRC-32 over the file; see README, "Recovery"). `wal verify` sets it.
   */
  verifyEveryRecord?: boolean;
}

/** Options of {@link ReadOnlyLog.follow}. */
export interface ReadOnlyFollowOptions extends FollowOptions {
  /**
   * How often, in milliseconds, to look for records the writer appended while the follower waits (default 100),
   * besides looking at once when a watch of the directory reports a change (where the file system reports them).
   * A look that finds nothing costs a few system calls: see README ("Following a log") for latency and idle CPU.
   */
  pollMs?: number;
}

/** Where the valid log ends because of damage, as found by a read-only open. */
export interface DamageFound extends CorruptionLocation {
  /**
   * True for a torn tail (what a crash leaves in the newest segment, cut by `open` in every mode); false for
   * damage a crash cannot explain (`open` with `recovery: "strict"` refuses it).
   */
  tail: boolean;
}

/** How long to wait before reading a stop in the newest segment again (a live writer's write in flight). */
const RECHECK_MS = 25;
/** How many times a stop that keeps moving is read again before the last one is reported. */
const RECHECKS = 8;
const STREAM_CHUNK = 128;
const STREAM_STEP_BYTES = 4 * 1024 * 1024;



/**
 * A log opened for reading only: see {@link WriteAheadLog.openReadOnly}. It reads the log as it was when opened
 * (or last refreshed): call {@link ReadOnlyLog.refresh} to see what a live writer appended since.
 *
 * @example
 * ```ts
 * import { WriteAheadLog } from "@wal/wal";
 * const dir = await Deno.makeTempDir();
 * const writer = await WriteAheadLog.open(dir);
 * await writer.append("PUT", "k", "v");
 * const reader = await WriteAheadLog.openReadOnly(dir); // beside the writer: no lock taken
 * console.log(reader.currentSeqNum(), reader.damage);    // 1 null
 * for await (const r of reader.iterate()) console.log(r.seqNum, r.opType, r.key, r.value);
 * await reader.close();
 * await writer.close();
 * ```
 */
export class ReadOnlyLog {
  /** The log's directory, as given to `openReadOnly`. */
  readonly dir: string;
  /**
   * What `open` would do to the log as it was found (nothing was done): `clean` is true when it would do
   * nothing. Zeros after the newest record are listed as `cut-zeros`: a live writer preallocates them.
   */
  readonly recovery: RecoveryReport;
  /** Where the valid log ends because of damage (a torn tail included), or null when it ends cleanly. */
  readonly damage: DamageFound | null;

  #fs: WalFileSystem;
  #path: string;
  #view: View;
  #closed = false;
  #cursors = new Set<LogCursor>();
  /** How many times this handle saw the writer cut the tail: a stream begun before one meets a cut, not damage. */
  #cutsSeen = 0;
  #lookup: RecordLookup;
  #followers: Followers;
  #poller: Poller;

  /** @ignore Internal: handles come from {@link WriteAheadLog.openReadOnly}. */
  private constructor(dir: string, path: string, fs: WalFileSystem, view: View, report: RecoveryReport, damage: DamageFound | null) {
    this.dir = dir;
    this.#path = path;
    this.#fs = fs;
    this.#view = view;
    this.#lookup = new RecordLookup(fs);
    this.recovery = report;
    this.damage = damage;
    this.#followers = new Followers(fs);
    const fsWatch = fs.watch;
    const watch = fsWatch === undefined ? undefined : (onChange: () => void) => fsWatch.call(fs, path, onChange);
    this.#poller = new Poller(() => this.#look(), () => this.#followers.size > 0, watch);
  }

  /**
   * Opens the log in `dir` for reading: verifies every segment (record by record, or with one CRC-32 over the
   * file for a sealed one unless `verifyEveryRecord`), changes nothing.
   *
   * @throws WalFormatError when `dir` is missing, not a directory, not a log, or of a newer format version.
   * @throws WalInvalidArgumentError for a bad `dir` or option.
   * @throws WalReadError when reading fails.
   */
  static async open(dir: string, options?: ReadOnlyOptions): Promise<ReadOnlyLog> {
    if (typeof dir !== "string" || dir.length === 0) throw new WalInvalidArgumentError("dir", "must be a non-empty string");
    if (dir.includes("\0")) throw new WalInvalidArgumentError("dir", "must not contain NUL characters");
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new WalInvalidArgumentError("options", "must be an object or undefined");
    }
    if (options?.onProgress !== undefined && typeof options.onProgress !== "function") {
      throw new WalInvalidArgumentError("options.onProgress", "must be a function");
    }
    const everyRecord = options?.verifyEveryRecord ?? false;
    if (typeof everyRecord !== "boolean") {
      throw new WalInvalidArgumentError("options.verifyEveryRecord", "must be a boolean or undefined");
    }
    const fs = options?.fs ?? await defaultFileSystem();
    try {
      const path = realDirectory(fs, dir);
      checkLogDirectory(fs, path);
      let attempt = 0;
      for (;;) {
        try {
          return await ReadOnlyLog.#scan(dir, path, fs, options?.onProgress, everyRecord);
        } catch (e) {
          // A live writer's truncate or rotation removed or renamed a file between the listing and the read.
          if (errorCode(e) !== "ENOENT" || ++attempt > 3) throw e;
        }
      }
    } catch (e) {
      if (e instanceof WalError) throw e;
      throw new WalReadError(e);
    }
  }

  static async #scan(
    dir: string,
    path: string,
    fs: WalFileSystem,
    onProgress: ReadOnlyOptions["onProgress"],
    everyRecord: boolean,
  ): Promise<ReadOnlyLog> {
    const actions: RecoveryAction[] = [];
    for (const name of fs.list(path)) {
      if (!isOwnTempName(name)) continue;
      actions.push({
        action: "removed-temp-file",
        file: fs.join(path, name),
        offset: 0,
        bytes: 0,
        recordsDropped: 0,
        reason: "left by an interrupted rotation or truncate (or one in progress)",
      });
    }
    const all = listSegments(fs, path);
    const { segments, floor, pending, ceiling } = pendingTruncateView(fs, path, all);
    if (pending !== null) {
      actions.push({
        action: "finished-truncate",
        file: fs.join(path, TRUNCATE_FILE),
        offset: 0,
        bytes: 0,
        recordsDropped: 0,
        reason: `a truncate up to seq ${pending} is pending (interrupted, or in progress); records up to it are not read`,
      });
    }
    if (segments.length === 0) {
      const report = { clean: actions.length === 0, actions, segmentsVerified: 0, bytesVerified: 0 };
      const empty = { segments: [], activeEnd: SEGMENT_HEADER_SIZE, lastSeq: floor, floor, tail: NO_TAIL };
      return new ReadOnlyLog(dir, path, fs, empty, report, null);
    }
    refuseNewerVersions(fs, segments);
    let total = 0;
    if (onProgress !== undefined) {
      for (const seg of segments) total += sizeOf(fs, seg.path);
    }
    let done = 0;
    const chunk = new ReadBuffer(4096);
    let found = scanLog(fs, segments, "full", chunk, (bytes) => {
      done += bytes;
      onProgress?.(done, Math.max(total, done));
    }, !everyRecord);
    // A stop in the newest segment may be a live writer's write in flight: read that segment again after a
    // pause, until the stop stays where it was (then it is real) or the segment reads clean.
    // A stop counts as real only once neither it nor the segment's size moved over a pause: one large write in
    // progress keeps the stop where it is (the record still runs past the end) while the file grows.
    const newestPath = segments[segments.length - 1].path;
    let size = found.damage === null ? 0 : sizeOf(fs, newestPath);
    let growing = false;
    for (let i = 0; i < RECHECKS && found.damage !== null && found.damage.index === segments.length - 1; i++) {
      const before = found.damage;
      await new Promise((resolve) => setTimeout(resolve, RECHECK_MS));
      const sizeNow = sizeOf(fs, newestPath);
      growing = sizeNow !== size;
      size = sizeNow;
      const again = scanLog(fs, segments.slice(before.index), "full", chunk);
      const shifted: LogScan = {
        ...again,
        damage: again.damage === null ? null : { ...again.damage, index: again.damage.index + before.index },
        zeroTails: [
          ...found.zeroTails.filter((z) => z.index < before.index),
          ...again.zeroTails.map((z) => ({ ...z, index: z.index + before.index })),
        ],
        segmentsVerified: found.segmentsVerified,
        bytesVerified: found.bytesVerified,
      };
      const same = !growing && shifted.damage !== null && shifted.damage.location.offset === before.location.offset &&
        shifted.damage.location.reason === before.location.reason;
      found = shifted;
      if (same) break;
    }
    // Still growing after every pause: a live writer is writing the record there. It is the end for now, not damage.
    const last = found.damage;
    if (growing && last !== null && last.tail && last.index === segments.length - 1 && last.cut > 0) {
      found = { ...found, damage: null, lastEnd: last.cut };
    }
    actions.push(...plannedRepair(fs, segments, found));
    const d = found.damage;
    const keep = d === null ? segments.length : d.cut === 0 ? d.index : d.index + 1;
    const kept = segments.slice(0, keep);
    let lastSeq: number;
    let activeEnd: number;
    let tailAt = -1;
    if (keep === 0) {
      lastSeq = Math.max(floor, segments[0].firstSeq - 1);
      activeEnd = SEGMENT_HEADER_SIZE;
    } else if (d !== null && d.cut > 0) {
      // The damaged segment is the last one kept: it ends where its last complete unit does.
      lastSeq = found.lastSeq ?? kept[keep - 1].firstSeq - 1;
      activeEnd = d.cut;
      tailAt = found.lastStart;
    } else if (d !== null) {
      // The segment after the last kept one is unusable: the last kept one was read to its end.
      const last = kept[keep - 1];
      const end = endOf(fs, last, chunk);
      lastSeq = end.lastSeq;
      activeEnd = end.end;
      tailAt = end.start;
    } else {
      lastSeq = found.lastSeq ?? kept[keep - 1].firstSeq - 1;
      activeEnd = found.lastEnd;
      tailAt = found.lastStart;
    }
    const tail = keep === 0 ? NO_TAIL : withPrior(fs, kept, tailStamp(fs, kept[keep - 1].path, tailAt));
    const damage: DamageFound | null = d === null
      ? null
      : { file: segments[d.index].path, ...d.location, tail: d.tail };
    const report: RecoveryReport = {
      clean: actions.length === 0,
      actions,
      segmentsVerified: found.segmentsVerified,
      bytesVerified: found.bytesVerified,
    };
    const view = capView(fs, { segments: kept, activeEnd, lastSeq: Math.max(lastSeq, floor), floor, tail }, ceiling);
    return new ReadOnlyLog(dir, path, fs, view, report, damage);
  }

  /** The seq of the last complete record this handle reads (0 for an empty log). */
  currentSeqNum(): number {
    return this.#view.lastSeq;
  }

  /**
   * The seq of the oldest record this handle reads, as `WriteAheadLog.firstSeqNum` answers it: `n + 1` after a
   * `truncate(n)` (also one still pending), and `currentSeqNum() + 1` when the log holds no record (1 when fresh).
   *
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const dir = await Deno.makeTempDir();
   * const writer = await WriteAheadLog.open(dir);
   * for (let i = 0; i < 3; i++) await writer.append("PUT", `k${i}`, "v");
   * await writer.truncate(1);
   * const reader = await WriteAheadLog.openReadOnly(dir);
   * console.log(reader.firstSeqNum(), reader.currentSeqNum()); // 2 3
   * await reader.close();
   * await writer.close();
   * ```
   */
  firstSeqNum(): number {
    const view = this.#view;
    const next = view.lastSeq + 1;
    if (view.segments.length === 0) return next;
    return Math.min(Math.max(view.segments[0].firstSeq, view.floor + 1), next);
  }

  /**
   * Reads what a live writer appended since the handle was opened or last refreshed: from the end of the newest
   * segment read on, and any segment after it. Damage is not reported here (a stop is read as the end for now);
   * a new read-only open reports it. Resolves to the new {@link ReadOnlyLog.currentSeqNum}.
   */
  async refresh(): Promise<number> {
    if (this.#closed) throw new WalClosedError("this read-only handle is closed");
    this.#refreshView();
    if (this.#followers.size > 0) this.#poller.wake();
    return this.#view.lastSeq;
  }

  /** Reads the log on (see `refresh`) and moves this handle's followers onto what a truncate left. */
  #refreshView(): void {
    const before = this.#view;
    for (let attempt = 0;; attempt++) {
      try {
        const { view, cut, reread } = refreshView(this.#fs, this.#path, this.#view);
        this.#view = view;
        if (cut) {
          this.#cutsSeen++;
          // Indexes of the cut segment are stale; followers may have yielded records that are gone (their seqs
          // now name others): they end, as in the writer's process; the handle reads the log as it is now.
          this.#lookup.reset();
          this.#followers.end((s) => new WalTruncatedError(-1, s.position, true));
          return;
        }
        if (reread) {
          // The newest segment's header was written again (no record removed): indexes and followers' open files
          // of it are stale; followers go on after what they yielded, on the files as they are now.
          this.#lookup.reset();
          this.#followers.retarget(view.segments, view.activeEnd);
          break;
        }
        this.#lookup.retain(this.#view.segments);
        break;
      } catch (e) {
        // A live writer's truncate or rotation removed a file between the listing and the read: list again.
        if (errorCode(e) === "ENOENT" && attempt < 5) continue;
        if (e instanceof WalError) throw e;
        throw new WalReadError(e);
      }
    }
    const now = this.#view;
    const appended = now.floor === before.floor && before.segments.every((s, i) => now.segments[i]?.name === s.name);
    if (appended || now.segments.length === 0) return;
    // A truncate by the writer: followers that were to yield a removed record end, the others go on.
    const upTo = this.firstSeqNum() - 1;
    this.#followers.end((s) => lowestToCome(s) <= upTo ? new WalTruncatedError(upTo, s.position) : null);
    this.#followers.retarget(now.segments, now.activeEnd);
  }

  /** A poller's look: true when the log changed (followers have something to read, or were ended). */
  #look(): boolean {
    if (this.#closed) return false;
    const before = this.#view;
    try {
      if (!mayHaveGrown(this.#fs, this.#path, before)) return false;
      this.#refreshView();
    } catch (e) {
      const error = e instanceof WalError ? e : new WalReadError(e);
      this.#followers.end(() => error);
      return true;
    }
    const now = this.#view;
    return now !== before &&
      (now.lastSeq !== before.lastSeq || now.activeEnd !== before.activeEnd || now.segments.length !== before.segments.length ||
        now.segments[0]?.name !== before.segments[0]?.name);
  }

  /**
   * The committed records (as {@link replayStream} yields them) after `afterSeq`, without end: those in the log,
   * then each one a writer in this or another process appends, as `WriteAheadLog.follow` yields them. While it
   * waits it watches the log's directory and looks at once when that reports a change, and every `pollMs` anyway
   * (watching is silent on some file systems); one timer and one watcher per handle, whatever the number of
   * followers. A look that finds something reads the log on as `refresh()` does, so `currentSeqNum()` moves too.
   *
   * A reader in another process sees a record once the writer has written it to the OS and the record and its
   * unit (a batch with its COMMIT) are complete: in `"sync"` mode that can be shortly before the writer's
   * fdatasync completes (a crash of the machine in that window can lose a record a follower has seen). A
   * truncate by the writer that removes records the follower has not yet yielded ends it with WalTruncatedError.
   * It ends on the signal's abort, on `return()` and, cleanly, on `close()`.
   *
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const dir = await Deno.makeTempDir();
   * const writer = await WriteAheadLog.open(dir); // in another process, typically
   * await writer.append("PUT", "a", "1");
   * const reader = await WriteAheadLog.openReadOnly(dir);
   * const controller = new AbortController();
   * setTimeout(() => writer.append("PUT", "b", "2"), 10);
   * for await (const record of reader.follow({ signal: controller.signal, pollMs: 5 })) {
   *   console.log(record.seqNum, record.key);
   *   if (record.key === "b") break;
   * }
   * await reader.close();
   * await writer.close();
   * ```
   */
  follow(options?: ReadOnlyFollowOptions): AsyncGenerator<WalRecord, void, undefined> {
    const slot: FollowSlot = { state: null };
    const generator = this.#follow(options, slot);
    this.#followers.watch(generator, slot);
    return generator;
  }

  async *#follow(options: ReadOnlyFollowOptions | undefined, slot: FollowSlot): AsyncGenerator<WalRecord, void, undefined> {
    if (this.#closed) throw new WalClosedError("this read-only handle is closed");
    const afterSeq = checkReadOptions(options);
    const signal = checkReadSignal(options);
    const pollMs = checkPollMs(options);
    // Read on first if the handle's view is old: the follower starts from the log as it is now.
    if (this.#view.segments.length > 0 && mayHaveGrown(this.#fs, this.#path, this.#view)) this.#refreshView();
    // A directory without a segment yet (rare): look until one appears.
    while (this.#view.segments.length === 0) {
      signal?.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      if (this.#closed) return;
      this.#refreshView();
    }
    const source: FollowSource = {
      segments: () => this.#view.segments,
      activeEnd: () => this.#view.activeEnd,
      changed: () => this.#poller.changed(pollMs),
      fill: (state, out, limit, maxBytes) => {
        try {
          return state.cursor.fill(out, limit, maxBytes);
        } catch (e) {
          if (e instanceof WalCorruptionError) {
            // The writer's truncateAfter may have cut or removed what this follower reads since the handle last
            // looked: look now. A cut ends the follower (WalTruncatedError); damage the look does not explain is
            // reported as damage.
            const before = this.#view;
            this.#refreshView();
            if (state.ended !== null) return true;
            if (this.#view !== before) {
              this.#poller.wake();
              return true;
            }
            throw e;
          }
          // A segment the writer's truncate removed before this follower opened it: read the log on (which ends
          // or moves this follower) and try again.
          if (errorCode(e) === "ENOENT") {
            const before = this.#view;
            this.#refreshView();
            if (this.#view !== before) {
              this.#poller.wake();
              return true;
            }
          }
          throw e instanceof WalError ? e : new WalReadError(e);
        }
      },
    };
    // The log as read afresh above.
    const from = followStart(options?.afterSeq === undefined ? undefined : afterSeq, this.firstSeqNum(), this.#view.lastSeq);
    try {
      yield* followLog(this.#followers, source, this.#followers.begin(slot, source, from, false, signal), slot);
    } finally {
      // The last follower gone: no timer or watcher may keep the process alive for nobody.
      if (this.#followers.size === 0) this.#poller.release();
    }
  }

  /**
   * The record with seq `seq` as this handle sees the log, as `WriteAheadLog.read` returns it (COMMIT and
   * CHECKPOINT records included), or `undefined` before {@link firstSeqNum} or after {@link currentSeqNum}:
   * records a live writer appended since the open are read after {@link refresh}. One positioned read per record,
   * its checksum verified.
   *
   * @throws WalInvalidArgumentError for a `seq` that is not an integer >= 0.
   * @throws WalCorruptionError when the record is damaged; WalReadError when the file system fails (a segment a
   * live writer's truncate removed included); WalClosedError once the handle is closed.
   * @example
   * ```ts
   * import { WriteAheadLog } from "@wal/wal";
   * const dir = await Deno.makeTempDir();
   * const writer = await WriteAheadLog.open(dir);
   * await writer.append("PUT", "k", "v");
   * const reader = await WriteAheadLog.openReadOnly(dir);
   * console.log(await reader.read(1)); // { seqNum: 1, opType: "PUT", key: "k", value: "v" }
   * await reader.close();
   * await writer.close();
   * ```
   */
  async read(seq: number): Promise<WalRecord | undefined> {
    if (this.#closed) throw new WalClosedError("this read-only handle is closed");
    checkSeq(seq, "seq");
    const view = this.#view;
    if (seq > view.lastSeq || seq < this.firstSeqNum()) return undefined;
    try {
      return this.#lookup.read(view.segments, seq, view.activeEnd, view.activeEnd);
    } catch (e) {
      if (e instanceof WalError) throw e;
      throw new WalReadError(e);
    }
  }

  /** The committed data records, as `WriteAheadLog.replay` returns them, in one array. */
  async replay(options?: { afterSeq?: number }): Promise<WalRecord[]> {
    const out: WalRecord[] = [];
    for await (const record of this.replayStream(options)) out.push(record);
    return out;
  }

  /** The committed data records, streamed with bounded memory, as `WriteAheadLog.replayStream` yields them. */
  replayStream(options?: { afterSeq?: number }): AsyncGenerator<WalRecord, void, undefined> {
    return this.#stream(options, true);
  }

  /** Every record as stored, COMMIT and CHECKPOINT records included, as `WriteAheadLog.iterate` yields them. */
  iterate(options?: { afterSeq?: number }): AsyncGenerator<WalRecord, void, undefined> {
    return this.#stream(options, false);
  }

  async *#stream(options: { afterSeq?: number } | undefined, committedOnly: boolean): AsyncGenerator<WalRecord, void, undefined> {
    if (this.#closed) throw new WalClosedError("this read-only handle is closed");
    const view = this.#view;
    const afterSeq = Math.max(checkReadOptions(options), view.floor);
    if (view.segments.length === 0 || afterSeq >= view.lastSeq) return;
    const cursor = new LogCursor(this.#fs, view.segments, view.activeEnd, afterSeq, committedOnly);
    this.#cursors.add(cursor);
    const chunk: WalRecord[] = [];
    const cuts = this.#cutsSeen;
    let position = afterSeq;
    try {
      for (let more = true; more;) {
        chunk.length = 0;
        try {
          more = cursor.fill(chunk, STREAM_CHUNK, STREAM_STEP_BYTES);
        } catch (e) {
          if (e instanceof WalCorruptionError) {
            // The files this stream reads may have been cut by the writer's truncateAfter since it began: look.
            if (!this.#closed) this.#refreshView();
            if (this.#cutsSeen !== cuts) throw new WalTruncatedError(-1, position, true);
            throw e;
          }
          // A segment removed while it was to be read: a truncate by the writer. The cause keeps its ENOENT, so
          // that a follower (wal tail -f) can refresh and go on from the new first record.
          if (errorCode(e) === "ENOENT") throw new WalReadError(e);
          throw e instanceof WalError ? e : new WalReadError(e);
        }
        for (const record of chunk) {
          if (this.#closed) throw new WalClosedError("the read-only handle was closed while this stream was open");
          position = record.seqNum;
          yield record;
        }
      }
    } finally {
      this.#cursors.delete(cursor);
      cursor.close();
    }
  }

  /** Releases the files of any stream still open. Closing twice is a no-op. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lookup.reset();
    this.#followers.end(() => "done");
    this.#poller.stop();
    for (const cursor of this.#cursors) cursor.close();
    this.#cursors.clear();
  }

  /** Closes the handle: `await using log = await WriteAheadLog.openReadOnly(dir)` closes it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
