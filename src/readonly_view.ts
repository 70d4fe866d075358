/**
 * What a read-only handle sees of a log (its view) and how it reads a log on from an older view: the segments, where
 * their valid part ends, a pending truncate's floor or cut, and the stamp that tells a writer's cut.
 *
 * @module
 */

import { WalFormatError } from "./errors.ts";
import { decodeTruncateAfterFile, decodeTruncateFile, SEGMENT_HEADER_SIZE } from "./format.ts";
import type { WalFileSystem } from "./io/types.ts";
import { errorCode } from "./io/types.ts";
import { ReadBuffer, SegmentScanner, withScanChunk } from "./reader.ts";
import { listSegments } from "./segment.ts";
import type { SegmentInfo } from "./segment.ts";
import { TRUNCATE_FILE } from "./truncate.ts";
import { findCutPoint } from "./truncate_after.ts";
import { headerRewritten, NO_TAIL, priorStamp, stampAt, tailCut, tailStamp } from "./tail_stamp.ts";
import type { TailStamp } from "./tail_stamp.ts";
import { WALK_CHUNK_BYTES } from "./walk.ts";

/** The log as a read-only handle read it. */
export interface View {
  segments: SegmentInfo[];
  /** Where the last complete unit of the last segment ends. */
  activeEnd: number;
  lastSeq: number;
  /** Records up to this seq belong to a truncate still pending: they are not read. */
  floor: number;
  /** Where that unit's last record starts in the last segment (-1 if it holds none), and its stored checksum. */
  tail: TailStamp;
}

/** The directory's real path, without creating anything. */
export function realDirectory(fs: WalFileSystem, dir: string): string {
  let path: string;
  try {
    path = fs.realPath(dir);
  } catch (e) {
    const code = errorCode(e);
    if (code === "ENOENT" || (e instanceof Error && e.name === "NotFound")) throw new WalFormatError(dir, "no such directory");
    if (code === "ENOTDIR") throw new WalFormatError(dir, "it is not a directory");
    throw e;
  }
  if (fs.fileKind !== undefined && fs.fileKind(path) !== "directory") throw new WalFormatError(dir, "it is not a directory");
  return path;
}

/**
 * The segments as a pending truncate up to `upTo` leaves them once finished (see `truncate.ts`), without
 * finishing it: when a segment starts at upTo + 1 the older ones are gone; otherwise the reads start in the one
 * that holds upTo + 1 and skip what precedes it.
 */
export function pendingTruncateView(
  fs: WalFileSystem,
  dir: string,
  all: SegmentInfo[],
): { segments: SegmentInfo[]; floor: number; pending: number | null; ceiling: number } {
  const path = fs.join(dir, TRUNCATE_FILE);
  const none = { segments: all, floor: 0, pending: null, ceiling: Infinity };
  if (!fs.exists(path)) return none;
  let bytes: Uint8Array;
  try {
    bytes = fs.readFile(path);
  } catch (e) {
    // The writer removed it between the two calls: its truncate is done.
    if (errorCode(e) === "ENOENT") return none;
    throw e;
  }
  const upTo = decodeTruncateFile(bytes);
  if (upTo === null) {
    // A cut of the tail (truncateAfter) pending: records after keepThrough are not read.
    const keepThrough = decodeTruncateAfterFile(bytes);
    return keepThrough === null ? none : { ...none, ceiling: keepThrough };
  }
  const target = upTo + 1;
  let from = 0;
  if (all.some((s) => s.firstSeq === target)) {
    from = all.findIndex((s) => s.firstSeq === target);
  } else {
    for (let i = 0; i < all.length; i++) if (all[i].firstSeq < target) from = i;
  }
  return { segments: all.slice(from), floor: upTo, pending: upTo, ceiling: Infinity };
}

/**
 * The view without the records a pending `truncateAfter` removes (those after `ceiling`): what the writer's next
 * open will hold, whether the cut is still running or was interrupted.
 */
export function capView(fs: WalFileSystem, view: View, ceiling: number): View {
  if (ceiling >= view.lastSeq || view.segments.length === 0) return view;
  const cut = findCutPoint(fs, view.segments, view.activeEnd, ceiling);
  const at = view.segments.findIndex((s) => s.path === cut.path);
  const lastSeq = Math.max(cut.keepThrough, view.floor);
  // The stamp of the last record kept (see tail_stamp.ts): a later cut that removes what this handle yields from
  // the view must be seen as one. A segment the cut empties is left out of the view (the cut replaces it with
  // another header, which is no cut of what was read): the view ends with the segment before it.
  if (cut.end === SEGMENT_HEADER_SIZE && at > 0) {
    const prev = view.segments[at - 1];
    const { end, start } = endOf(fs, prev, new ReadBuffer(4096));
    return { segments: view.segments.slice(0, at), activeEnd: end, lastSeq, floor: view.floor, tail: tailStamp(fs, prev.path, start) };
  }
  const tail = cut.end === SEGMENT_HEADER_SIZE ? NO_TAIL : tailStamp(fs, cut.path, cut.lastStart);
  return { segments: view.segments.slice(0, at + 1), activeEnd: cut.end, lastSeq, floor: view.floor, tail };
}

/**
 * `tail`, the stamp of the newest of `segments`, with the last record read in an older one (`TailStamp.prior`)
 * when the newest holds none: a new generation of an empty newest segment is a cut of what was read only when
 * that record is gone.
 */
export function withPrior(fs: WalFileSystem, segments: readonly SegmentInfo[], tail: TailStamp): TailStamp {
  if (tail.at >= 0 || tail.gen < 0) return tail;
  const chunk = new ReadBuffer(4096);
  for (let i = segments.length - 2; i >= 0; i--) {
    const { end, start } = endOf(fs, segments[i], chunk);
    if (start >= 0) return { ...tail, prior: priorStamp(fs, segments[i].path, start, end) };
  }
  return tail;
}

/** The size of the file at `path`. */
export function sizeOf(fs: WalFileSystem, path: string): number {
  const file = fs.openRead(path);
  try {
    return file.size();
  } finally {
    file.close();
  }
}

/** Where the last complete unit of a segment ends (reading it from its header). */
export function endOf(fs: WalFileSystem, seg: SegmentInfo, chunk: ReadBuffer): { lastSeq: number; end: number; start: number } {
  const file = fs.openRead(seg.path);
  try {
    const size = file.size();
    return withScanChunk(chunk, Math.min(size, WALK_CHUNK_BYTES), (c) => {
      const scanner = new SegmentScanner(file, seg.firstSeq, size, undefined, c);
      scanner.verifyToEnd();
      return { lastSeq: scanner.unitSeq, end: scanner.unitEnd, start: scanner.unitStart };
    });
  } finally {
    file.close();
  }
}

/**
 * The view after what was appended since `old`: the newest segment read on from its known end, then the
 * segments after it. A view whose newest segment is gone (a truncate) is rebuilt from a fresh listing.
 */
export function refreshView(fs: WalFileSystem, dir: string, old: View): { view: View; cut: boolean; reread: boolean } {
  // List first: a segment that exists now was complete before the next one (seen later) was created.
  const { segments: listed, floor, ceiling } = pendingTruncateView(fs, dir, listSegments(fs, dir));
  const found = readOn(fs, listed, floor, old);
  const view = capView(fs, found.view, ceiling);
  // A pending cut below what this handle read is a cut too.
  return { view, cut: found.cut || view.lastSeq < old.lastSeq, reread: found.reread };
}

/**
 * `refreshView` without a pending `truncateAfter`: reads the log on from `old`, or afresh if its tail was cut
 * (`cut`) or the header of its newest segment, of which it read no record, was written again (`reread`).
 */
function readOn(fs: WalFileSystem, listed: SegmentInfo[], floor: number, old: View): { view: View; cut: boolean; reread: boolean } {
  const chunk = new ReadBuffer(4096);
  let reread = false;
  const none = (): { view: View; cut: boolean; reread: boolean } => ({
    view: { segments: [], activeEnd: SEGMENT_HEADER_SIZE, lastSeq: Math.max(old.lastSeq, floor), floor, tail: NO_TAIL },
    cut: false,
    reread,
  });
  if (listed.length === 0) return none();
  const newest = old.segments[old.segments.length - 1];
  let at = newest === undefined ? -1 : listed.findIndex((s) => s.name === newest.name);
  let segments: SegmentInfo[] = [];
  let lastSeq = listed[0].firstSeq - 1;
  let activeEnd = SEGMENT_HEADER_SIZE;
  let tailAt = -1;
  // The newest segment read is gone while older ones remain: only a truncateAfter (into an older segment) does
  // that; a truncate removes the oldest segments, and when it removes them all its new segment starts later.
  // (A newest segment the view read no record from, such as an empty one a crash left and the writer's open
  // removed, is no cut.)
  let cut = at < 0 && newest !== undefined && newest.firstSeq <= old.lastSeq &&
    listed.some((s) => s.firstSeq < newest.firstSeq);
  if (at >= 0) {
    const file = fs.openRead(newest.path);
    try {
      if (tailCut(file, old.activeEnd, old.tail, fs)) {
        // The writer cut the tail (truncateAfter) and may have written other records since: read it all afresh.
        cut = true;
        at = -1;
      } else if (headerRewritten(file, old.tail)) {
        // No record removed, but what follows the header may be of another version: read it all afresh.
        reread = true;
        at = -1;
      } else {
        segments = listed.slice(0, at + 1);
        const size = file.size();
        const scanner = withScanChunk(chunk, Math.min(size - old.activeEnd, WALK_CHUNK_BYTES), (c) => {
          const s = new SegmentScanner(file, old.lastSeq + 1, size, old.activeEnd, c);
          s.verifyToEnd();
          return s;
        });
        lastSeq = scanner.unitSeq;
        activeEnd = scanner.unitEnd;
        tailAt = scanner.unitStart >= 0 ? scanner.unitStart : old.tail.at;
        // Stopped before the end of the segment: nothing after it is read yet.
        if (scanner.stop !== null) {
          const tail = tailAt === old.tail.at ? old.tail : stampAt(file, tailAt);
          return { view: { segments, activeEnd, lastSeq: Math.max(lastSeq, floor), floor, tail }, cut, reread };
        }
      }
    } finally {
      file.close();
    }
  }
  let next = at + 1;
  for (; next < listed.length; next++) {
    const seg = listed[next];
    if (segments.length > 0 && seg.firstSeq !== lastSeq + 1) break;
    const file = fs.openRead(seg.path);
    try {
      const size = file.size();
      const scanner = withScanChunk(chunk, Math.min(size, WALK_CHUNK_BYTES), (c) => {
        const s = new SegmentScanner(file, seg.firstSeq, size, undefined, c);
        s.verifyToEnd();
        return s;
      });
      segments.push(seg);
      lastSeq = scanner.unitSeq;
      activeEnd = scanner.unitEnd;
      tailAt = scanner.unitStart;
      if (scanner.stop !== null) break;
    } finally {
      file.close();
    }
  }
  if (segments.length === 0) return { view: none().view, cut, reread };
  const last = segments[segments.length - 1];
  const tail = !cut && !reread && last.name === newest?.name && tailAt === old.tail.at
    ? old.tail
    : withPrior(fs, segments, tailStamp(fs, last.path, tailAt));
  return { view: { segments, activeEnd, lastSeq: Math.max(lastSeq, floor), floor, tail }, cut, reread };
}
