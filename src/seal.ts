/**
 * Seal files (layout in format.ts): one CRC-32 over a whole segment, written when the writer rotates away from a
 * segment it created, so that open's full verification checks that segment at the speed of a plain read. A seal
 * is only ever an accelerator: a missing, torn or stale one sends the segment back to the record-by-record check.
 * That is why this module's writes and removals are best-effort.
 *
 * @module
 */

import { crc32Continue } from "./crc32.ts";
import { decodeSeal, encodeSeal, parseSealName, SEAL_FILE_SIZE } from "./format.ts";
import type { Seal } from "./format.ts";
import type { WalFile, WalFileSystem } from "./io/types.ts";
import type { SegmentInfo } from "./segment.ts";

/** The seal's path: the segment's, with `.seal` for `.wal`. */
export function sealPath(segment: SegmentInfo): string {
  return segment.path.slice(0, -".wal".length) + ".seal";
}

/**
 * Writes the seal of `segment` (replacing a stale one), without fdatasync. A failure (a full disk) leaves no seal
 * or a torn one, which verification ignores: the records it would vouch for are durable already, and only a later
 * open's speed depends on it. So the error is not raised.
 */
export function writeSeal(fs: WalFileSystem, segment: SegmentInfo, seal: Seal): void {
  const path = sealPath(segment);
  try {
    if (fs.exists(path)) fs.remove(path);
    const file = fs.openWrite(path, { create: true, exclusive: true });
    try {
      file.append(encodeSeal(seal));
    } finally {
      file.close();
    }
  } catch {
    removeSeal(fs, segment);
  }
}

/**
 * Removes the seal of `segment` if there is one. Best-effort: a seal left behind names a size and checksum the
 * segment no longer has (or no segment), so it is never trusted; open removes it later.
 */
export function removeSeal(fs: WalFileSystem, segment: SegmentInfo): void {
  try {
    const path = sealPath(segment);
    if (fs.exists(path)) fs.remove(path);
  } catch {
    // See above: a stale seal costs time, never correctness.
  }
}

/** Whether a file is where the seal of `segment` would be (intact or not). */
export function hasSeal(fs: WalFileSystem, segment: SegmentInfo): boolean {
  try {
    return fs.exists(sealPath(segment));
  } catch {
    return false;
  }
}

/** The seal of `segment` (call {@link hasSeal} first), or `null` when it is not whole and intact. */
export function readSeal(fs: WalFileSystem, segment: SegmentInfo): Seal | null {
  const path = sealPath(segment);
  let file: WalFile;
  try {
    file = fs.openRead(path);
  } catch {
    return null;
  }
  try {
    // One byte more than a seal: a longer file is not one.
    const bytes = new Uint8Array(SEAL_FILE_SIZE + 1);
    const n = file.read(bytes, 0);
    const seal = decodeSeal(bytes.subarray(0, n));
    return seal !== null && seal.firstSeq === segment.firstSeq ? seal : null;
  } catch {
    return null;
  } finally {
    file.close();
  }
}

/**
 * Whether the open segment `file` is exactly what its seal vouches for: the same size, and the same CRC-32 of
 * all its bytes, read through `buffer`. Read errors propagate (as they do from a record-by-record check).
 */
export function matchesSeal(file: WalFile, seal: Seal, buffer: Uint8Array): boolean {
  if (file.size() !== seal.size) return false;
  let crc = 0;
  for (let at = 0; at < seal.size;) {
    const n = file.read(buffer.subarray(0, Math.min(buffer.length, seal.size - at)), at);
    if (n === 0) return false;
    crc = crc32Continue(buffer.subarray(0, n), crc);
    at += n;
  }
  return crc === seal.segmentCrc;
}

/**
 * Removes the seals no segment of `segments` (the log after open's repairs) can use: those of segments that are
 * gone, and the newest segment's, which the writer appends to. Best-effort, like every seal removal.
 */
export function pruneSeals(fs: WalFileSystem, dir: string, segments: readonly SegmentInfo[]): void {
  const sealed = new Set(segments.slice(0, -1).map((s) => s.firstSeq));
  for (const name of fs.list(dir)) {
    const firstSeq = parseSealName(name);
    if (firstSeq === null || sealed.has(firstSeq)) continue;
    try {
      fs.remove(fs.join(dir, name));
    } catch {
      // A seal left behind is never trusted for a segment it does not match.
    }
  }
}
