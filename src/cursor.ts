/**
 * Reading across segments: from the first segment that can hold `afterSeq + 1`, through the end of the active
 * segment as it was when the read began, holding batch members back until their COMMIT.
 *
 * @module
 */

import { WalCorruptionError } from "./errors.ts";
import { FLAG_BATCH, KIND_CHECKPOINT, KIND_COMMIT } from "./format.ts";
import type { WalFile, WalFileSystem } from "./io/types.ts";
import { ReadBuffer, SegmentScanner } from "./reader.ts";
import type { WalRecord } from "./reader.ts";
import type { SegmentInfo } from "./segment.ts";

const CHUNK_BYTES = 4 * 1024 * 1024;

/** A position in the log that hands out records in chunks. Call `close()` if it is dropped before the end. */
export class LogCursor {
  #fs: WalFileSystem;
  #segments: SegmentInfo[];
  #activeEnd: number;
  #afterSeq: number;
  #committedOnly: boolean;
  #index: number;
  #expected: number;
  #file: WalFile | null = null;
  #scanner: SegmentScanner | null = null;
  #pending: WalRecord[] = [];
  #chunk: ReadBuffer | null = null;
  #follow: boolean;
  /**
   * Follow mode, once the last segment was read to the end known: where its next record will start and its
   * format version. Its file stays open, so that {@link extend} reads on from there instead of from its header.
   */
  #atEnd: { offset: number; version: number } | null = null;

  /**
   * @param segments the segments as they were when the read began (the cursor keeps its own copy)
   * @param activeEnd bytes of the last segment written when the read began; later bytes are not read
   * @param committedOnly drop COMMIT and CHECKPOINT records and hold batch members until their COMMIT
   * @param follow keep the last segment open at its end (`fill` returns false there) until {@link extend}
   */
  constructor(
    fs: WalFileSystem,
    segments: readonly SegmentInfo[],
    activeEnd: number,
    afterSeq: number,
    committedOnly: boolean,
    follow = false,
  ) {
    this.#fs = fs;
    this.#follow = follow;
    this.#segments = segments.slice();
    this.#activeEnd = activeEnd;
    this.#afterSeq = afterSeq;
    this.#committedOnly = committedOnly;
    this.#index = 0;
    this.#expected = 0;
    this.#start(afterSeq);
  }

  /** The lowest seq of a record read but held back (a batch waiting for its COMMIT), or undefined. */
  get pendingFirstSeq(): number | undefined {
    return this.#pending[0]?.seqNum;
  }

  /** The seq of the next record this cursor will read: every record before it has been read or skipped. */
  get nextSeq(): number {
    return this.#scanner?.expectedSeq ?? this.#expected;
  }

  /** Records with seq up to this are not handed out. */
  get afterSeq(): number {
    return this.#afterSeq;
  }

  /** Points the cursor at the segment that can hold `afterSeq + 1`, before anything is read. */
  #start(afterSeq: number): void {
    let first = 0;
    // Segment names carry their first seq, so whole segments before afterSeq are never opened.
    while (first + 1 < this.#segments.length && this.#segments[first + 1].firstSeq <= afterSeq + 1) first++;
    this.#index = first;
    this.#expected = this.#segments[first].firstSeq;
  }

  /**
   * Continues on the segments a truncate left, which removed nothing this cursor has yet to hand out. A segment
   * being read is read to its end through the handle already open (a removed file stays readable through it on
   * POSIX); after it, the next segment is the one that starts at the seq expected next, so the truncate's copy
   * of the records already read is skipped.
   * @param activeEnd bytes of the new last segment that hold records now
   */
  retarget(segments: readonly SegmentInfo[], activeEnd: number): void {
    this.#activeEnd = activeEnd;
    if (this.#chunk === null) {
      // Nothing read yet: start afresh on the new list.
      this.#segments = segments.slice();
      this.#start(this.#afterSeq);
    } else if (this.#file !== null) {
      const current = this.#segments[this.#index];
      this.#segments = [current, ...segments.filter((s) => s.firstSeq > current.firstSeq)];
      this.#index = 0;
    } else {
      // Between two segments: go on with the one that starts at the seq expected next.
      this.#segments = segments.slice();
      let next = 0;
      while (next < this.#segments.length && this.#segments[next].firstSeq < this.#expected) next++;
      this.#index = next;
    }
  }

  /**
   * Pushes records onto `out` until it holds at least `limit` records, or records of at least `maxBytes` bytes
   * (as stored; a batch's COMMIT may carry it past either), or the log ends. Returns false once the log is
   * exhausted.
   * @throws WalCorruptionError where a record breaks a rule of the format.
   */
  fill(out: WalRecord[], limit: number, maxBytes: number = Infinity): boolean {
    const afterSeq = this.#afterSeq;
    const committedOnly = this.#committedOnly;
    let bytes = 0;
    while (out.length < limit && bytes < maxBytes) {
      if (this.#atEnd !== null && !this.#readOn()) {
        // Follow mode: the last segment waits for `extend`; one sealed by a rotation was read to its end.
        if (this.#index === this.#segments.length - 1) return false;
        this.#leaveSegment();
      }
      const scanner = this.#scanner ?? this.#openNext();
      if (scanner === null) return false;
      // The common case (standalone records) in the scanner's tight loop; the rest one by one below.
      if (this.#pending.length === 0) {
        bytes += scanner.collect(out, limit, afterSeq, maxBytes - bytes);
        if (out.length >= limit || bytes >= maxBytes) break;
      }
      if (!scanner.next()) {
        if (this.#follow && scanner.stop === null && scanner.zerosFrom < 0) {
          // The end this scanner was given (always a unit's end). The segment may hold more by now (an `extend`
          // while it read, or a rotation that sealed it): the top of the loop looks.
          this.#atEnd = { offset: scanner.unitEnd, version: scanner.version };
          this.#expected = scanner.unitSeq + 1;
          this.#scanner = null;
          continue;
        }
        this.#finishSegment(scanner);
        continue;
      }
      if (scanner.seq <= afterSeq) continue;
      bytes += scanner.length;
      if (!committedOnly) {
        out.push(scanner.record());
      } else if (scanner.kind === KIND_COMMIT) {
        const pending = this.#pending;
        for (let i = 0; i < pending.length; i++) out.push(pending[i]);
        this.#pending = [];
      } else if (scanner.kind !== KIND_CHECKPOINT) {
        if ((scanner.flags & FLAG_BATCH) !== 0) this.#pending.push(scanner.record());
        else out.push(scanner.record());
      }
    }
    return true;
  }

  /**
   * Follow mode: takes in what was acknowledged since the cursor began or was last extended: segments created
   * after the last one it knows (rotation) and the new end of the last one. Records are never taken from the
   * writer's memory: what this makes readable is read from the files by the next `fill`.
   */
  extend(segments: readonly SegmentInfo[], activeEnd: number): void {
    const known = this.#segments;
    const lastKnown = known[known.length - 1].firstSeq;
    // From the end: O(new segments), not O(log), per call (a wake of every follower per group commit).
    let i = segments.length;
    while (i > 0 && segments[i - 1].firstSeq > lastKnown) i--;
    for (; i < segments.length; i++) known.push(segments[i]);
    this.#activeEnd = activeEnd;
  }

  /** Follow mode, at the end read so far of the open segment: reads on if it holds more now. */
  #readOn(): boolean {
    const at = this.#atEnd;
    const file = this.#file;
    if (at === null || file === null) return false;
    // A segment that is no longer the last was sealed (trimmed and synced): its size is its end.
    const end = this.#index === this.#segments.length - 1 ? this.#activeEnd : file.size();
    if (end <= at.offset) return false;
    this.#atEnd = null;
    this.#scanner = new SegmentScanner(file, this.#expected, end, at.offset, this.#chunk ?? undefined, at.version);
    return true;
  }

  #openNext(): SegmentScanner | null {
    if (this.#index >= this.#segments.length) return null;
    const seg = this.#segments[this.#index];
    if (seg.firstSeq !== this.#expected) {
      throw new WalCorruptionError({ file: seg.path, offset: 0, seq: this.#expected, reason: `segment starts at seq ${seg.firstSeq}` });
    }
    const file = this.#fs.openRead(seg.path);
    this.#file = file;
    const last = this.#index === this.#segments.length - 1;
    const end = last ? this.#activeEnd : file.size();
    // One chunk for every segment this cursor reads (sized down for a one-segment log smaller than a chunk).
    const size = this.#segments.length - this.#index > 1 ? CHUNK_BYTES : Math.min(CHUNK_BYTES, Math.max(4096, end));
    this.#chunk ??= new ReadBuffer(size);
    this.#scanner = new SegmentScanner(file, seg.firstSeq, end, undefined, this.#chunk);
    return this.#scanner;
  }

  #finishSegment(scanner: SegmentScanner): void {
    const seg = this.#segments[this.#index];
    this.close();
    if (scanner.stop !== null) throw new WalCorruptionError({ file: seg.path, ...scanner.stop });
    this.#expected = scanner.unitSeq + 1;
    this.#leaveSegment();
  }

  /** Moves past the segment just read (its file closed), to the one that starts at the seq expected next. */
  #leaveSegment(): void {
    this.close();
    this.#pending = [];
    // The next segment starts at the seq expected next; any before it hold records already read (see retarget).
    let next = this.#index + 1;
    while (next < this.#segments.length && this.#segments[next].firstSeq < this.#expected) next++;
    this.#index = next;
  }

  /** Releases the open segment, if any. */
  close(): void {
    this.#scanner = null;
    this.#atEnd = null;
    if (this.#file !== null) {
      const file = this.#file;
      this.#file = null;
      file.close();
    }
  }
}
