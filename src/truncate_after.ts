/**
 * Crash-safe cut of the log's tail (`truncateAfter`): removes every record with seq > keepThrough.
 *
 * The commit point is the `TRUNCATE` file of magic "TRNA" (layout in `format.ts`), written through a temporary
 * file and a rename: before it is durable the log is as it was; once it is, `open` finishes the cut, so the log is
 * as it will be. Before it is written, the segment that will become the newest is fdatasync'ed, so that finishing
 * the cut after a crash never finds fewer records up to keepThrough than the log acknowledged. The cut itself only
 * deletes whole segments (newest first) and shortens one (ftruncate, then fdatasync): every step can be run again.
 * The file is removed durably before the caller writes anything new, so a record numbered keepThrough + 1 written
 * after the cut can never be cut by an old marker.
 *
 * @module
 */

import { encodeSegmentHeader, encodeTruncateAfterFile, decodeTruncateAfterFile, SEGMENT_HEADER_SIZE } from "./format.ts";
import { FORMAT_VERSION } from "./format.ts";
import { WalCorruptionError } from "./errors.ts";
import type { WalFileSystem } from "./io/types.ts";
import { SegmentScanner } from "./reader.ts";
import { removeSeal } from "./seal.ts";
import { createSegment, listSegments, readSegmentHeader, segmentGeneration, writeFileDurably } from "./segment.ts";
import type { SegmentInfo } from "./segment.ts";
import { TRUNCATE_FILE } from "./truncate.ts";

/** The segment that holds (or, when it is a segment's first, starts with) seq `target`: the last one starting at or before it. */
function holderIndex(segments: readonly SegmentInfo[], target: number): number {
  let holder = -1;
  for (let i = 0; i < segments.length; i++) if (segments[i].firstSeq <= target) holder = i;
  return holder;
}

/** Where a cut goes: the seq kept through, and where that record ends in the segment that holds the next seq. */
export interface CutPoint {
  keepThrough: number;
  /** The segment to shorten (the last one starting at or before keepThrough + 1). */
  path: string;
  /** Its length after the cut. */
  end: number;
  /** Where the last record it keeps starts (-1: it keeps none). */
  lastStart: number;
}

/**
 * Where `truncateAfter(n)` cuts: after `n` itself when it ends a unit (a standalone record, a COMMIT or a
 * CHECKPOINT), else before the batch `n` is a member of (batches are removed whole). The caller ensures
 * firstSeq - 1 <= n < the last seq, with nothing in flight.
 *
 * @param activeEnd where the acknowledged records of the newest segment end
 * @throws WalCorruptionError when the segment to cut holds damage before seq n + 1 (the log is not touched)
 */
export function findCutPoint(fs: WalFileSystem, segments: readonly SegmentInfo[], activeEnd: number, n: number): CutPoint {
  const index = holderIndex(segments, n + 1);
  const seg = segments[index];
  const file = fs.openRead(seg.path);
  try {
    const end = index === segments.length - 1 ? activeEnd : file.size();
    const scanner = new SegmentScanner(file, seg.firstSeq, end);
    let keep = seg.firstSeq - 1;
    let at = scanner.unitEnd;
    let lastStart = -1;
    while (scanner.next()) {
      if (scanner.seq > n) return { keepThrough: keep, path: seg.path, end: at, lastStart };
      keep = scanner.unitSeq;
      at = scanner.unitEnd;
      lastStart = scanner.unitStart;
    }
    throw new WalCorruptionError(
      scanner.stop !== null
        ? { file: seg.path, ...scanner.stop }
        : { file: seg.path, offset: scanner.unitEnd, seq: scanner.unitSeq + 1, reason: `the segment ends before seq ${n + 1}` },
      "truncateAfter refused: the segment it must cut holds damage",
    );
  } finally {
    file.close();
  }
}

/** Removes every record after the cut point `findCutPoint` found; returns the new segments. */
export function truncateAfterLog(fs: WalFileSystem, dir: string, cut: CutPoint): SegmentInfo[] {
  const keepThrough = cut.keepThrough;
  const segments = listSegments(fs, dir);
  const holder = holderIndex(segments, keepThrough + 1);
  if (holder >= 0) {
    // Records up to keepThrough in the segment to keep are durable before the marker says to cut after them.
    const file = fs.openWrite(segments[holder].path, { create: false });
    try {
      file.datasync();
    } finally {
      file.close();
    }
  }
  writeFileDurably(fs, dir, TRUNCATE_FILE, [encodeTruncateAfterFile(keepThrough)]);
  applyTruncateAfter(fs, dir, keepThrough, cut);
  fs.remove(fs.join(dir, TRUNCATE_FILE));
  fs.syncDir(dir);
  const left = listSegments(fs, dir);
  startCurrentVersion(fs, dir, left, keepThrough + 1);
  return left;
}

/**
 * Finishes a cut of the tail that a crash interrupted; returns its keepThrough, or null if none was pending (a
 * `TRUNCATE` file of the other kind is left to `finishPendingTruncate`).
 */
export function finishPendingTruncateAfter(fs: WalFileSystem, dir: string): number | null {
  const path = fs.join(dir, TRUNCATE_FILE);
  if (!fs.exists(path)) return null;
  const keepThrough = decodeTruncateAfterFile(fs.readFile(path));
  if (keepThrough === null) return null;
  applyTruncateAfter(fs, dir, keepThrough);
  fs.remove(path);
  fs.syncDir(dir);
  return keepThrough;
}

/**
 * Idempotent: brings the files from any state of an interrupted cut to its end state. `known`: where the live
 * call found the cut, so that the segment need not be scanned again.
 */
function applyTruncateAfter(fs: WalFileSystem, dir: string, keepThrough: number, known?: CutPoint): void {
  const target = keepThrough + 1;
  const segments = listSegments(fs, dir);
  const holder = holderIndex(segments, target);
  // The segment named target after the cut gets a generation no segment of that name had before it (see
  // format.ts): a reader elsewhere that read one of them tells it apart by its header, whatever is written next.
  const generation = segments.length === 0 ? 0 : segmentGeneration(fs, segments[segments.length - 1].path) + 1;
  // Newest first, so that the files left are always a prefix of the log.
  for (let i = segments.length - 1; i > holder; i--) {
    removeSeal(fs, segments[i]);
    fs.remove(segments[i].path);
  }
  if (holder < 0) {
    // Only a damaged directory gets here (the cut never goes below the first segment): numbering goes on at target.
    createSegment(fs, dir, target, FORMAT_VERSION, generation);
  } else {
    const seg = segments[holder];
    // The cut segment is shorter than when it was sealed: its seal would be stale.
    removeSeal(fs, seg);
    if (seg.firstSeq < target) {
      cutSegment(fs, seg, keepThrough, known?.path === seg.path ? known.end : undefined);
      // Records numbered from target on go to a new segment, never after the kept ones in the cut segment, by
      // this handle or a later one: a reader elsewhere that read the removed records sees their segment end
      // before where it read, whatever is written next (were it written in place, a record identical to the one
      // the reader read last, at the same offset, would hide the cut).
      createSegment(fs, dir, target, FORMAT_VERSION, generation);
    } else {
      // The cut empties it: replaced whole (atomically) by a header of the new generation, for the same reason.
      writeFileDurably(fs, dir, seg.name, [encodeSegmentHeader(target, FORMAT_VERSION, generation)]);
    }
  }
  fs.syncDir(dir);
}

/**
 * Shortens `seg` to end after the record keepThrough (to its header when it starts after it), durably, at
 * `knownEnd` when the caller found that place already.
 */
function cutSegment(fs: WalFileSystem, seg: SegmentInfo, keepThrough: number, knownEnd?: number): void {
  const file = fs.openWrite(seg.path, { create: false });
  try {
    const size = file.size();
    let end = knownEnd ?? SEGMENT_HEADER_SIZE;
    if (knownEnd === undefined && seg.firstSeq <= keepThrough) {
      const scanner = new SegmentScanner(file, seg.firstSeq, size);
      // keepThrough ends a unit; a scan that stops before it (a torn tail) cuts at the last complete unit.
      while (scanner.next() && scanner.seq <= keepThrough) end = scanner.unitEnd;
    }
    if (size > end) file.truncate(end);
    file.datasync();
  } finally {
    file.close();
  }
}

/**
 * The writer appends only current-version segments: when the cut left an older-version segment newest, a new
 * one starts at `nextSeq` (replacing the old one when the cut emptied it), as `open` does. The old one was made
 * durable by the cut. Updates `segments`.
 */
function startCurrentVersion(fs: WalFileSystem, dir: string, segments: SegmentInfo[], nextSeq: number): void {
  const newest = segments[segments.length - 1];
  const file = fs.openRead(newest.path);
  let version: number;
  try {
    const header = readSegmentHeader(file);
    version = header.ok ? header.version : FORMAT_VERSION;
  } finally {
    file.close();
  }
  if (version === FORMAT_VERSION) return;
  if (newest.firstSeq === nextSeq) {
    writeFileDurably(fs, dir, newest.name, [encodeSegmentHeader(nextSeq)]);
    return;
  }
  segments.push(createSegment(fs, dir, nextSeq));
}
