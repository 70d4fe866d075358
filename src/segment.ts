/**
 * Segment files as a whole: listing them, reading their headers, and creating new ones so that a segment is
 * either absent or complete with its header (never a half-written header after a crash).
 *
 * @module
 */

import {
  declaredHeaderSize,
  decodeSegmentHeader,
  encodeSegmentHeader,
  FORMAT_VERSION,
  parseSegmentName,
  SEGMENT_HEADER_SIZE,
  segmentName,
} from "./format.ts";
import type { SegmentHeaderResult } from "./format.ts";
import type { WalFile, WalFileSystem } from "./io/types.ts";

/** One segment file of the log. */
export interface SegmentInfo {
  /** Seq of its first record (from its name). */
  firstSeq: number;
  /** Its file name. */
  name: string;
  /** Its full path. */
  path: string;
}

/** Suffix of files being prepared (a segment's or `TRUNCATE`'s name plus this); open removes those it finds. */
export const TEMP_SUFFIX = ".tmp";

/** The segments in a directory, in seq order. */
export function listSegments(fs: WalFileSystem, dir: string): SegmentInfo[] {
  const segments: SegmentInfo[] = [];
  for (const name of fs.list(dir)) {
    const firstSeq = parseSegmentName(name);
    if (firstSeq !== null) segments.push({ firstSeq, name, path: fs.join(dir, name) });
  }
  return segments.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Reads and checks the header of an open segment. */
export function readSegmentHeader(file: WalFile): SegmentHeaderResult {
  let bytes = new Uint8Array(SEGMENT_HEADER_SIZE);
  let n = file.read(bytes, 0);
  if (n >= 12 && (bytes[8] | (bytes[9] << 8)) > FORMAT_VERSION && declaredHeaderSize(bytes) > n) {
    bytes = new Uint8Array(declaredHeaderSize(bytes));
    n = file.read(bytes, 0);
  }
  return decodeSegmentHeader(bytes.subarray(0, n));
}

/** The cut generation (see format.ts) of the segment at `path`: 0 when its header cannot be read. */
export function segmentGeneration(fs: WalFileSystem, path: string): number {
  const file = fs.openRead(path);
  try {
    const header = readSegmentHeader(file);
    return header.ok ? header.generation : 0;
  } finally {
    file.close();
  }
}

/**
 * Writes `contents` to a new file at `dir/name` durably: through `name.tmp`, fdatasync, rename, directory fsync.
 * A crash leaves either no file at `name` or the whole of it.
 */
export function writeFileDurably(fs: WalFileSystem, dir: string, name: string, contents: Uint8Array[]): void {
  const tmp = fs.join(dir, name + TEMP_SUFFIX);
  if (fs.exists(tmp)) fs.remove(tmp);
  const file = fs.openWrite(tmp, { create: true, exclusive: true });
  try {
    for (const part of contents) file.append(part);
    file.datasync();
  } finally {
    file.close();
  }
  fs.rename(tmp, fs.join(dir, name));
  fs.syncDir(dir);
}

/**
 * Creates an empty segment (header only) whose first record will be `firstSeq`, durably, of format `version`
 * (default: the current one, the only one the writer appends), of cut `generation` (see format.ts).
 */
export function createSegment(
  fs: WalFileSystem,
  dir: string,
  firstSeq: number,
  version: number = FORMAT_VERSION,
  generation = 0,
): SegmentInfo {
  const name = segmentName(firstSeq);
  writeFileDurably(fs, dir, name, [encodeSegmentHeader(firstSeq, version, generation)]);
  return { firstSeq, name, path: fs.join(dir, name) };
}

/** Appends bytes [from, to) of `source` to `out`, in chunks of at most 4 MiB. Stops early if `source` ends. */
export function copyRange(source: WalFile, out: WalFile, from: number, to: number): void {
  const chunk = new Uint8Array(Math.min(4 * 1024 * 1024, Math.max(1, to - from)));
  for (let at = from; at < to;) {
    const n = source.read(chunk.subarray(0, Math.min(chunk.length, to - at)), at);
    if (n === 0) break;
    out.append(chunk.subarray(0, n));
    at += n;
  }
}
