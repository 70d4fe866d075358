/**
 * Crash-safe truncate: removes every record with seq <= upTo.
 *
 * The commit point is the `TRUNCATE` file (written through a temporary file and a rename): before it is durable
 * the log is as it was; once it is, `open` finishes the work, so the log is as it will be. The work itself only
 * ever adds complete files (a new segment holding the kept part of the segment that straddles upTo, made
 * durable before it is renamed into place) and then deletes whole segments, oldest first. No segment is ever
 * rewritten in place.
 *
 * @module
 */

import { encodeSegmentHeader, encodeTruncateFile, decodeTruncateFile, segmentName } from "./format.ts";
import { WalCorruptionError } from "./errors.ts";
import type { WalFileSystem } from "./io/types.ts";
import { SegmentScanner } from "./reader.ts";
import { removeSeal } from "./seal.ts";
import { copyRange, createSegment, listSegments, segmentGeneration, TEMP_SUFFIX, writeFileDurably } from "./segment.ts";
import type { SegmentInfo } from "./segment.ts";

/** Name of the pending-truncate file (layout in `format.ts`). */
export const TRUNCATE_FILE = "TRUNCATE";

/** Truncates the log in `dir` up to and including seq `upTo` (at most the last seq); returns the new segments. */
export function truncateLog(fs: WalFileSystem, dir: string, upTo: number): SegmentInfo[] {
  refuseDamagedStraddler(fs, dir, upTo);
  writeFileDurably(fs, dir, TRUNCATE_FILE, [encodeTruncateFile(upTo)]);
  applyTruncate(fs, dir, upTo);
  fs.remove(fs.join(dir, TRUNCATE_FILE));
  fs.syncDir(dir);
  return listSegments(fs, dir);
}

/**
 * Reads the segment that holds seq upTo + 1 (whose kept part the truncate copies) to its end before anything
 * changes. With `verify: "tail"` an older segment may hold damage no open has seen: copying past it would drop
 * the records after it without a word, and copying the part before it would leave a gap. Throws
 * WalCorruptionError (the log untouched) instead: reopening repairs the damage, or strict mode reports it.
 */
function refuseDamagedStraddler(fs: WalFileSystem, dir: string, upTo: number): void {
  const target = upTo + 1;
  let straddler: SegmentInfo | undefined;
  for (const seg of listSegments(fs, dir)) {
    if (seg.firstSeq === target) return;
    if (seg.firstSeq < target) straddler = seg;
  }
  if (straddler === undefined) return;
  const file = fs.openRead(straddler.path);
  try {
    const scanner = new SegmentScanner(file, straddler.firstSeq, file.size());
    scanner.verifyToEnd();
    if (scanner.stop !== null) {
      throw new WalCorruptionError(
        { file: straddler.path, ...scanner.stop },
        "truncate refused: the segment it must copy from holds damage",
      );
    }
  } finally {
    file.close();
  }
}

/** Finishes a truncate that a crash interrupted; returns its upTo, or null if none was pending. */
export function finishPendingTruncate(fs: WalFileSystem, dir: string): number | null {
  const path = fs.join(dir, TRUNCATE_FILE);
  if (!fs.exists(path)) return null;
  const upTo = decodeTruncateFile(fs.readFile(path));
  // An unreadable marker was never renamed into place whole, so the truncate never began.
  if (upTo !== null) applyTruncate(fs, dir, upTo);
  fs.remove(path);
  fs.syncDir(dir);
  return upTo;
}

/** Idempotent: brings the files from any state of an interrupted truncate to its end state. */
function applyTruncate(fs: WalFileSystem, dir: string, upTo: number): void {
  const target = upTo + 1;
  let segments = listSegments(fs, dir);
  if (segments.length > 0 && !segments.some((s) => s.firstSeq === target)) {
    let straddler = -1;
    for (let i = 0; i < segments.length; i++) if (segments[i].firstSeq < target) straddler = i;
    if (straddler >= 0) {
      const kept = copyKeptPart(fs, dir, segments[straddler], target);
      if (!kept && straddler === segments.length - 1) {
        createSegment(fs, dir, target, undefined, segmentGeneration(fs, segments[straddler].path));
      }
    }
    segments = listSegments(fs, dir);
  }
  for (const seg of segments) {
    if (seg.firstSeq >= target) break;
    removeSeal(fs, seg);
    fs.remove(seg.path);
  }
  fs.syncDir(dir);
}

/**
 * Writes the records of `seg` with seq >= target to a new segment named for `target`, durably.
 * Returns false (writing nothing) when `seg` holds no such record.
 */
function copyKeptPart(fs: WalFileSystem, dir: string, seg: SegmentInfo, target: number): boolean {
  const source = fs.openRead(seg.path);
  try {
    const size = source.size();
    const scanner = new SegmentScanner(source, seg.firstSeq, size);
    let from = -1;
    while (scanner.next()) {
      if (scanner.seq === target) {
        from = scanner.offset;
        break;
      }
    }
    if (from < 0) return false;
    // Copy through the end of the last valid record: a torn tail is not carried into the new segment.
    while (scanner.next());
    const end = scanner.unitEnd;
    const name = segmentName(target);
    const tmp = fs.join(dir, name + TEMP_SUFFIX);
    if (fs.exists(tmp)) fs.remove(tmp);
    const out = fs.openWrite(tmp, { create: true, exclusive: true });
    try {
      // The copied records keep their format, so the new segment keeps the version of the one they come from.
      // ...and its cut generation (see format.ts).
      out.append(encodeSegmentHeader(target, scanner.version, segmentGeneration(fs, seg.path)));
      copyRange(source, out, from, end);
      out.datasync();
    } finally {
      out.close();
    }
    fs.rename(tmp, fs.join(dir, name));
    fs.syncDir(dir);
    return true;
  } finally {
    source.close();
  }
}
