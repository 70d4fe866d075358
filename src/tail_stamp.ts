/**
 * How a reader in another process notices the writer's `truncateAfter`: that cut shortens a segment in place, and
 * appends may follow it, so the newest segment may be as long as a reader knows it and yet hold other records
 * where the reader's last one was. The reader keeps the offset and the stored checksum of the last record it read
 * (a stamp) and rereads those 4 bytes, and the segment header's checksum: a cut that removes or empties the
 * segment gives the segment written under its name again another cut generation (see format.ts), so a rewrite
 * that is byte-identical up to where the reader read still differs there. Used by the read-only handle's refresh
 * and by its followers' looks.
 *
 * @module
 */

import type { WalFile, WalFileSystem } from "./io/types.ts";

/** Where a segment header's checksum is (see format.ts). */
const HEADER_CRC_AT = 28;
/** Where a segment header's cut generation is (see format.ts). */
const GENERATION_AT = 20;

/** The last record a reader read in its newest segment: where it starts (-1: none) and its stored checksum. */
export interface TailStamp {
  readonly at: number;
  readonly crc: number;
  /** The segment header's checksum (its bytes 28..31) when the stamp was taken; -1: unknown. */
  readonly head: number;
  /** The segment's cut generation (header bytes 20..27, see format.ts) then; -1: unknown. */
  readonly gen: number;
  /**
   * When the reader read no record of its newest segment: the last record it read, in an older one. A new
   * generation of the newest segment with that record still in place removed nothing the reader read (records
   * written after it into the newest segment and cut away again, unseen).
   */
  readonly prior?: PriorStamp;
}

/** The last record a reader read, in a segment older than its newest one (see `TailStamp.prior`). */
export interface PriorStamp {
  readonly path: string;
  /** Where the record starts and where it ends. */
  readonly at: number;
  readonly end: number;
  /** Its stored checksum and its segment's header checksum. */
  readonly crc: number;
  readonly head: number;
}

/** The stamp of the record from `at` to `end` of the segment at `path`. */
export function priorStamp(fs: WalFileSystem, path: string, at: number, end: number): PriorStamp {
  const file = fs.openRead(path);
  try {
    const s = stampAt(file, at);
    return { path, at, end, crc: s.crc, head: s.head };
  } finally {
    file.close();
  }
}

/** True when the record `prior` stamps is still where it was, in the same segment (same header). */
function priorIntact(fs: WalFileSystem, prior: PriorStamp | undefined): boolean {
  if (prior === undefined) return false;
  try {
    const file = fs.openRead(prior.path);
    try {
      return file.size() >= prior.end && readCrcAt(file, prior.at) === prior.crc && readHeaderStamp(file).head === prior.head;
    } finally {
      file.close();
    }
  } catch {
    return false;
  }
}

/** The stamp of no segment (-1: nothing to compare). */
export const NO_TAIL: TailStamp = { at: -1, crc: 0, head: -1, gen: -1 };

/** The 4 bytes at `at` as an unsigned little-endian integer, or -1 if the file ends before them. */
export function readCrcAt(file: WalFile, at: number): number {
  const bytes = new Uint8Array(4);
  if (file.read(bytes, at) < 4) return -1;
  return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
}

/** The stamp of the record at `at` of an open segment (`at` < 0: the reader read none of its records). */
export function stampAt(file: WalFile, at: number): TailStamp {
  const header = readHeaderStamp(file);
  return { at: at < 0 ? -1 : at, crc: at < 0 ? 0 : readCrcAt(file, at), head: header.head, gen: header.gen };
}

/** A segment header's cut generation and checksum (format.ts) in one read, -1 each if the file ends before them. */
function readHeaderStamp(file: WalFile): { head: number; gen: number } {
  const bytes = new Uint8Array(HEADER_CRC_AT + 4 - GENERATION_AT);
  if (file.read(bytes, GENERATION_AT) < bytes.length) return { head: -1, gen: -1 };
  const view = new DataView(bytes.buffer);
  return { gen: view.getUint32(4, true) * 0x1_0000_0000 + view.getUint32(0, true), head: view.getUint32(8, true) };
}

/**
 * The stamp of the record at `at` of `path` (`at` < 0: none read). Its header's checksum is kept either way: a
 * reader whose newest segment holds no record may still have read records a cut replaced in older ones, and the
 * segment of that name written after the cut has another generation.
 */
export function tailStamp(fs: WalFileSystem, path: string, at: number): TailStamp {
  const file = fs.openRead(path);
  try {
    return stampAt(file, at);
  } finally {
    file.close();
  }
}

/**
 * True when `file`, the reader's newest segment, no longer holds what the reader read: shorter than `activeEnd`
 * (where the reader's records end), another cut generation in its header (unless it read none of its records and
 * the last one it read, `tail.prior`, is still in place: pass `fs` to look), or, when it read records of it,
 * another checksum where its last record was or in its header.
 */
export function tailCut(file: WalFile, activeEnd: number, tail: TailStamp, fs?: WalFileSystem): boolean {
  if (file.size() < activeEnd) return true;
  if (tail.gen < 0 && tail.at < 0) return false;
  const header = readHeaderStamp(file);
  // Of a segment the reader read no record of, another generation is a cut of what it read unless the last
  // record it read (in an older segment) is still in place: then the header is only written again (see below).
  if (tail.gen >= 0 && header.gen !== tail.gen) return tail.at >= 0 || fs === undefined || !priorIntact(fs, tail.prior);
  if (tail.at < 0) return false;
  return readCrcAt(file, tail.at) !== tail.crc || (tail.head >= 0 && header.head !== tail.head);
}

/**
 * True when the header of `file`, a newest segment the reader read no record of and `tailCut` found not cut, was
 * written again (the writer's open gives an empty version-1 segment a version-2 header): what the reader knows of
 * the segment's layout is stale, though no record was removed.
 */
export function headerRewritten(file: WalFile, tail: TailStamp): boolean {
  return tail.at < 0 && tail.head >= 0 && readHeaderStamp(file).head !== tail.head;
}
