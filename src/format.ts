/**
 * The on-disk format, byte by byte. Writer, reader and recovery import the constants below; nothing else
 * knows the layout. Two versions exist: version 2 is written, versions 1 and 2 are read. A segment holds records
 * of its own version only; the writer appends only to version-2 segments (open starts a new segment when the
 * newest one is version 1), so a log upgraded from version 1 is version-1 segments followed by version-2 ones.
 *
 * # Files in a log directory
 *
 * | name                              | what it is                                                         |
 * |-----------------------------------|--------------------------------------------------------------------|
 * | `00000000000000000001.wal`        | a segment; the 20 zero-padded digits are the seq of its first record |
 * | `LOCK`                            | the directory lock: the owner's pid as decimal text                |
 * | `TRUNCATE`                        | a pending truncate or cut of the tail (see below); only while one runs |
 * | `00000000000000000001.seal`       | the seal of the segment of the same number (see below); optional   |
 * | `<segment>.wal.tmp`, `TRUNCATE.tmp` | a file being prepared; never part of the log, removed on open    |
 * | `quarantine-<time>-<what>.bin`    | bytes recovery cut out of the log, kept for inspection             |
 *
 * Only segments end in `.wal`. Name order is seq order because the width is fixed. A directory holding any
 * other file (names starting with "." and `lost+found` aside) is not a log, and `open` refuses it before it
 * changes anything. Seal files first came with library version 0.2.0: an older version refuses a
 * directory that holds one (as not a log) rather than misread it.
 *
 * # Segment header (32 bytes, little-endian; the same in versions 1 and 2)
 *
 * ```
 * offset size field
 *      0    8 magic        ASCII "JSWALSEG"
 *      8    2 version      1 or 2: the layout of the records that follow; a larger one is refused (WalFormatError)
 *     10    2 headerSize   32; lets a later version grow the header
 *     12    8 firstSeq     seq of the first record this segment holds (equals the name)
 *     20    8 generation   u64: grows with each cut of the tail (truncateAfter); 0 in a log never cut (see below)
 *     28    4 crc32        CRC-32 (IEEE) of bytes 0..27
 * ```
 *
 * `generation` (zero in segments written before it existed; nothing but a reader following the log uses it) changes
 * a segment's header whenever a cut makes its name name other records: a new segment takes the generation of the
 * newest one before it, a segment a cut creates or empties takes one more than the newest segment had before the
 * cut. A reader that remembers its newest segment's header checksum therefore notices a cut even when the
 * segment it read was emptied or removed and then written again, byte for byte, up to where it had read.
 *
 * Every later version keeps bytes 0..11 as they are and ends its header with a CRC-32 of the header's other
 * bytes (at `headerSize - 4`). So a reader tells a newer version (checksum valid: refused with WalFormatError,
 * never repaired away) from a damaged header (checksum invalid: damage like any other).
 *
 * A segment never holds part of a batch whose other part is in another segment, with one exception: a
 * truncate that removes a batch's members but keeps its COMMIT writes a segment whose first record is that
 * COMMIT. A COMMIT with no members before it is accepted as the first record of a segment, nowhere else.
 *
 * # Record, version 2 (32-byte header + payload, little-endian)
 *
 * ```
 * offset size field
 *      0    4 recordCrc    CRC-32 (IEEE) of every byte from offset 4 to the end of the record
 *      4    8 seq          u64; records in a log have seqs 1, 2, 3, ... with no gap
 *     12    1 kind         1 = DATA, 2 = COMMIT, 3 = CHECKPOINT
 *     13    1 flags        bit 0: value is bytes (else UTF-8 text); bit 1: member of a batch
 *     14    2 opLen        bytes of opType (1..255 for DATA, 0 otherwise)
 *     16    4 keyLen       bytes of key
 *     20    4 valueLen     bytes of value
 *     24    4 syncedBack   d: every record with seq <= seq - d was durable (fdatasync'ed) when this one was
 *                          written; 0 = unknown
 *     28    4 headerCrc    CRC-32 of header bytes 4..27
 *     32    .. opType (UTF-8), key (UTF-8), value (UTF-8 or raw bytes), in that order
 * ```
 *
 * Fields 0..23 sit where version 1 has them. `recordCrc` covers everything after it (the header's own
 * checksum included), so reading a good record costs one checksum, as in version 1. `headerCrc` is what makes
 * lengths trustworthy on their own: when `recordCrc` fails, or the record runs past the end of the file, a
 * header that still checks out gives the record's extent, so a reader steps over it without looking into its
 * payload, and a payload holding bytes that look like records (a value that is another log's segment) is never
 * mistaken for records. opLen + keyLen + valueLen is at most {@link MAX_PAYLOAD_BYTES}.
 *
 * `syncedBack` is what lets open tell a crash from damage when pages were written back out of order (see
 * "Where a log ends").
 *
 * # Record, version 1 (24-byte header + payload, little-endian; read, never written)
 *
 * ```
 * offset size field
 *      0    4 crc32        CRC-32 (IEEE) of every byte from offset 4 to the end of the record
 *      4    8 seq          u64
 *     12    1 kind         as in version 2
 *     13    1 flags        as in version 2
 *     14    2 opLen
 *     16    4 keyLen
 *     20    4 valueLen
 *     24    .. opType, key, value
 * ```
 *
 * One checksum covers header and payload, so a version-1 length cannot be trusted before the whole record is
 * read; after damage, open searches byte by byte for a later record (with a bounded amount of work) to tell a
 * torn tail from damage.
 *
 * # Batches
 *
 * `appendBatch` writes its N operations as DATA records with the batch flag (seqs s..s+N-1) followed by a COMMIT
 * record (seq s+N), all in one write. A reader holds batch members back until it sees the COMMIT; members with
 * no COMMIT after them are never replayed. A standalone DATA record has no batch flag and needs no COMMIT.
 *
 * # Where a log ends
 *
 * Reading a segment stops at the first of: end of file; fewer bytes left than a record header; a header whose
 * lengths run past the end of the file or exceed the maximum; a checksum mismatch; a seq other than the one
 * expected; an unknown kind or flag; a batch rule broken. The writer preallocates the active segment with zeros
 * (up to 1 MiB ahead, never past maxFileSize) so that an fdatasync need not grow the file; a record header of
 * zeros with only zeros after it to the end of the file is that space, a clean end (open cuts it; `close()` and
 * rotation trim it).
 *
 * On open, any other stop in the newest segment is either what a crash leaves or damage. A crash can lose any
 * part of what was written after the last fdatasync, in any order (page by page), but nothing before it. So
 * in a version-2 segment, a stop at a record of seq s is damage exactly when some record after it with a valid
 * header says (through `syncedBack`) that seq s was durable when it was written; otherwise it is a crash's torn
 * tail. In a version-1 segment a stop is damage when a valid record follows it. A torn tail is cut in every
 * mode, damage only with `recovery: "repair"`; either way the bytes from the end of the last complete unit
 * (standalone record, COMMIT, CHECKPOINT) are copied to a quarantine file first. A stop in any older segment is
 * damage (older segments were made durable before a newer one was created). See `recovery.ts`.
 *
 * # Pending truncate (`TRUNCATE`, 16 bytes)
 *
 * ```
 * offset size field
 *      0    8 upTo         u64: every record with seq <= upTo is to be removed
 *      8    4 magic        ASCII "TRNC"
 *     12    4 crc32        CRC-32 of bytes 0..11
 * ```
 * Written (through a temporary file and a rename) before a truncate touches any segment, removed after. Open
 * finishes a truncate whose file it finds, so a crash leaves the log as before the truncate or as after it.
 *
 * # Pending cut of the tail (`TRUNCATE`, 16 bytes, written by `truncateAfter`)
 *
 * ```
 * offset size field
 *      0    8 keepThrough  u64: every record with seq > keepThrough is to be removed (a unit boundary: never a
 *                          batch member, so batches are removed whole)
 *      8    4 magic        ASCII "TRNA"
 *     12    4 crc32        CRC-32 of bytes 0..11
 * ```
 * The same file name as a pending truncate (only one of the two runs at a time), told apart by the magic; the same
 * temporary-file-and-rename write. While it is in place: segments whose first seq is above keepThrough + 1 are
 * deleted (newest first), the segment holding keepThrough + 1 is cut (ftruncate) where that record began and
 * fdatasync'ed, and an empty segment named keepThrough + 1 is created (durably, as any new segment) with the
 * generation after the newest segment's; when that record is the segment's first, the segment is instead replaced
 * whole (a new file renamed over it) by such an empty one. The directory is fsync'ed, and only then
 * is the file removed (and the directory fsync'ed again), before any record numbered keepThrough + 1 is written
 * again. Open finishes a cut whose file it finds; every step is idempotent. So records after a cut never go into
 * the cut segment, whichever handle writes them (also one opened after a crash or a restart), and a reader
 * elsewhere sees the cut as a segment shorter than it read or as a header of another generation.
 *
 * # Seal of a sealed segment (`<20 digits>.seal`, 36 bytes, little-endian)
 *
 * ```
 * offset size field
 *      0    8 firstSeq     u64: the segment's first seq (equals both names)
 *      8    8 lastSeq      u64: the seq of its last record
 *     16    8 size         u64: the segment's size in bytes, header included, when it was sealed
 *     24    4 segmentCrc   CRC-32 of those `size` bytes, as the writer wrote them (computed from its own buffers,
 *                          never read back from the disk)
 *     28    4 magic        ASCII "SEAL"
 *     32    4 crc32        CRC-32 of bytes 0..31
 * ```
 * Written when the writer rotates, after the old segment's fdatasync and before the next segment exists, for a
 * segment this writer created (one it reopened has no checksum of its bytes so far, and gets no seal). A seal is
 * an accelerator, never needed: `verify: "full"` checks a segment that is not the newest and whose seal checks
 * out, has the same first seq and the same size, with one CRC-32 over the file instead of one per record; any
 * other segment (no seal, a torn or stale seal, a CRC-32 that differs) is checked record by record as always.
 * So a seal is written without fdatasync and removed on a best-effort basis by truncates and open, and a stale
 * one costs only time. One CRC-32 over a segment detects every error of up to 2 bits and every burst of up to
 * 32 bits, and any other with probability 1 - 2^-32; reads check each record's own checksum again.
 *
 * # Worked example, version 2
 *
 * `append("PUT", "k", "v")` as seq 7, written when seq 5 was known durable (syncedBack = 7 - 5 = 2), is 37 bytes:
 * ```
 * fc c4 13 76                  recordCrc: CRC-32 of the 33 bytes after it
 * 07 00 00 00 00 00 00 00      seq 7
 * 01                           kind DATA
 * 00                           flags: a text value, not in a batch
 * 03 00                        opLen 3
 * 01 00 00 00                  keyLen 1
 * 01 00 00 00                  valueLen 1
 * 02 00 00 00                  syncedBack 2: seqs up to 5 were durable
 * 67 cd d6 bd                  headerCrc: CRC-32 of the 24 bytes from seq to syncedBack
 * 50 55 54 6b 76               "PUT" "k" "v"
 * ```
 * (A CRC-32 run over bytes followed by their own CRC-32 always reaches the same state, so `recordCrc` depends
 * on the payload alone once the header checks out; it still catches any damage to the header, and the seq rule
 * tells apart two records with the same payload.) A COMMIT as seq 8 with nothing known durable is the 32 bytes
 * `1c df 44 21 | 08 00 00 00 00 00 00 00 | 02 | 00 | 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00 | fd d3 6c f6`.
 * A version-2 segment starts with `"JSWALSEG" 02 00 20 00` + firstSeq (u64) + 8 zero bytes + its CRC-32.
 *
 * # What the format cannot tell apart
 *
 * After a header that does not check out, what follows is found by searching; a crash that lost the page holding
 * a record's header but kept later pages of the same write lets the search look into that record's payload. A
 * payload holding records of another log, with seqs just above the lost one and `syncedBack` values reaching it,
 * could then make strict mode refuse (repair cuts at the same place either way; only its count of dropped
 * records is off). A torn write that kept its first bytes, the common crash, never searches.
 *
 * # Worked example, version 1
 *
 * `append("PUT", "k", "v")` as seq 1 is 27 bytes:
 * `2f 22 68 80 | 01 00 00 00 00 00 00 00 | 01 | 00 | 03 00 | 01 00 00 00 | 01 00 00 00 | 50 55 54 6b 76`: the
 * CRC-32 of the 23 bytes after it, seq 1, DATA, no flags, the three lengths, "PUT" "k" "v". A version-1 segment starts with `"JSWALSEG" 01 00 20 00` + firstSeq.
 *
 * @module
 */

import { crc32 } from "./crc32.ts";
import { runtime } from "./io/runtime.ts";

/** ASCII "JSWALSEG": the first 8 bytes of every segment. */
export const SEGMENT_MAGIC: Uint8Array = new Uint8Array([0x4a, 0x53, 0x57, 0x41, 0x4c, 0x53, 0x45, 0x47]);
/** The format version this code writes (into new segments only) and the newest it reads. */
export const FORMAT_VERSION = 2;
/** The oldest format version this code reads. */
export const OLDEST_FORMAT_VERSION = 1;
/** magic, version, headerSize, firstSeq, generation, crc32. */
export const SEGMENT_HEADER_SIZE = 8 + 2 + 2 + 8 + 8 + 4;
/** Version 2: recordCrc, seq, kind, flags, opLen, keyLen, valueLen, syncedBack, headerCrc. */
export const RECORD_HEADER_SIZE = 4 + 8 + 1 + 1 + 2 + 4 + 4 + 4 + 4;
/** Version 2: the header's own checksum (at offset 28) covers header bytes 4..27. */
export const HEADER_CRC_SPAN = 24;
/** Version 1: crc32, seq, kind, flags, opLen, keyLen, valueLen. */
export const RECORD_HEADER_SIZE_V1 = 4 + 8 + 1 + 1 + 2 + 4 + 4;

/** The record header size of a segment format version. */
export function recordHeaderSize(version: number): number {
  return version === 1 ? RECORD_HEADER_SIZE_V1 : RECORD_HEADER_SIZE;
}
/** Largest opType + key + value of one record, in bytes (64 MiB). */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** Largest opType, in UTF-8 bytes. */
export const MAX_OP_TYPE_BYTES = 255;

/**
 * CRC-32 (IEEE) of `length` bytes of `bytes` from `at`, by a table loop (slicing by 4): for the fixed 28 bytes of
 * a record header this is cheaper than a second native call, and gives the same values as `crc32`.
 */
export function crc32Small(bytes: Uint8Array, at: number, length: number): number {
  let c = -1;
  let i = at;
  const end = at + length;
  for (const end4 = end - 3; i < end4; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = T3[c & 0xff] ^ T2[(c >>> 8) & 0xff] ^ T1[(c >>> 16) & 0xff] ^ T0[c >>> 24];
  }
  for (; i < end; i++) c = T0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * CRC-32 (IEEE) of `length` bytes of `bytes` from `at`: by the table loop for short ranges, natively for longer
 * ones. Measured per call: Node's native crc32 costs about as much as the loop over ~200 bytes (the call and the
 * subarray dominate), Bun's and Deno's over ~50.
 */
export function crc32Range(bytes: Uint8Array, at: number, length: number): number {
  return length <= SHORT_CRC ? crc32Small(bytes, at, length) : crc32(bytes.subarray(at, at + length));
}

const SHORT_CRC = runtime === "node" ? 160 : 48;

function crcTable(previous?: Int32Array, base?: Int32Array): Int32Array {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    if (previous !== undefined && base !== undefined) {
      table[n] = (previous[n] >>> 8) ^ base[previous[n] & 0xff];
      continue;
    }
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
}

const T0 = crcTable();
const T1 = crcTable(T0, T0);
const T2 = crcTable(T1, T0);
const T3 = crcTable(T2, T0);

/**
 * The 4 bytes that reset a running CRC-32: fed to a CRC-32 whose register holds `r`, the bytes of
 * `r ^ CRC_CHAIN_RESET` (little-endian) leave the register as a new CRC-32 starts it (all ones). Four bytes
 * shift the register out entirely, so the register afterwards is a fixed linear function of `r ^ bytes`; this is
 * the one input it maps to all ones. The reader uses it to check a run of records with one native CRC-32 call (see
 * `SegmentScanner.verifyToEnd`): it writes, over each record's `recordCrc` field, the value that resets the register
 * to the start of the next record's checksum, so the call returns the last record's checksum exactly when every
 * record of the run matches its own.
 */
export const CRC_CHAIN_RESET: number = solveChainReset();

function solveChainReset(): number {
  const step = (x: number): number => T3[x & 0xff] ^ T2[(x >>> 8) & 0xff] ^ T1[(x >>> 16) & 0xff] ^ T0[x >>> 24];
  // Gaussian elimination over GF(2): pivots[b] holds an (image, input) pair whose image's highest set bit is b.
  const images = new Int32Array(32);
  const inputs = new Int32Array(32);
  const used = new Uint8Array(32);
  for (let k = 0; k < 32; k++) {
    let image = step(1 << k);
    let input = 1 << k;
    for (let b = 31; b >= 0 && image !== 0; b--) {
      if (((image >>> b) & 1) === 0) continue;
      if (used[b] === 0) {
        used[b] = 1;
        images[b] = image;
        inputs[b] = input;
        break;
      }
      image ^= images[b];
      input ^= inputs[b];
    }
  }
  let target = -1;
  let z = 0;
  for (let b = 31; b >= 0; b--) {
    if (((target >>> b) & 1) === 0) continue;
    target ^= images[b];
    z ^= inputs[b];
  }
  if (target !== 0 || step(z) !== -1) throw new Error("CRC-32 chain reset: no solution (the tables are wrong)");
  return z;
}

/** Record kinds (byte 12). */
export const KIND_DATA = 1;
/** Closes the batch whose members precede it. */
export const KIND_COMMIT = 2;
/** A marker the application can replay from. */
export const KIND_CHECKPOINT = 3;

/** flags bit 0: the value is raw bytes, not UTF-8 text. */
export const FLAG_BYTES = 1;
/** flags bit 1: the record is a member of a batch and counts only once its COMMIT follows. */
export const FLAG_BATCH = 2;
/** Every flag bit this version defines; any other bit set is damage. */
export const KNOWN_FLAGS = FLAG_BYTES | FLAG_BATCH;

/** The opType that `iterate()` reports for COMMIT records. */
export const COMMIT_OP = "COMMIT";
/** The opType that `iterate()` reports for CHECKPOINT records. */
export const CHECKPOINT_OP = "CHECKPOINT";

/** upTo, magic, crc32. */
export const TRUNCATE_FILE_SIZE = 8 + 4 + 4;
const TRUNCATE_MAGIC = 0x434e5254; // "TRNC" read as little-endian u32
const TRUNCATE_AFTER_MAGIC = 0x414e5254; // "TRNA" read as little-endian u32

const SEGMENT_NAME = /^(\d{20})\.wal$/;

/** firstSeq, lastSeq, size, segmentCrc, magic, crc32. */
export const SEAL_FILE_SIZE = 8 + 8 + 8 + 4 + 4 + 4;
const SEAL_MAGIC = 0x4c414553; // "SEAL" read as little-endian u32

/** What a seal file says of its segment. */
export interface Seal {
  /** The segment's first seq. */
  firstSeq: number;
  /** The seq of its last record. */
  lastSeq: number;
  /** Its size in bytes when sealed, header included. */
  size: number;
  /** CRC-32 of those bytes. */
  segmentCrc: number;
}

/** The 36 bytes of a seal file. */
export function encodeSeal(seal: Seal): Uint8Array {
  const bytes = new Uint8Array(SEAL_FILE_SIZE);
  const view = new DataView(bytes.buffer);
  setU64(view, 0, seal.firstSeq);
  setU64(view, 8, seal.lastSeq);
  setU64(view, 16, seal.size);
  view.setUint32(24, seal.segmentCrc >>> 0, true);
  view.setUint32(28, SEAL_MAGIC, true);
  view.setUint32(32, crc32(bytes.subarray(0, 32)), true);
  return bytes;
}

/** What a seal file says, or `null` when it is not a whole, intact seal. */
export function decodeSeal(bytes: Uint8Array): Seal | null {
  if (bytes.length !== SEAL_FILE_SIZE) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.getUint32(28, true) !== SEAL_MAGIC || view.getUint32(32, true) !== crc32(bytes.subarray(0, 32))) return null;
  const seal = { firstSeq: getU64(view, 0), lastSeq: getU64(view, 8), size: getU64(view, 16), segmentCrc: view.getUint32(24, true) };
  const sane = Number.isSafeInteger(seal.firstSeq) && Number.isSafeInteger(seal.lastSeq) && Number.isSafeInteger(seal.size) &&
    seal.lastSeq >= seal.firstSeq && seal.size > SEGMENT_HEADER_SIZE;
  return sane ? seal : null;
}

const SEAL_NAME = /^(\d{20})\.seal$/;

/** The file name of the seal of the segment whose first record has seq `firstSeq`. */
export function sealName(firstSeq: number): string {
  return String(firstSeq).padStart(20, "0") + ".seal";
}

/** The first seq a seal file name carries, or `null` when the name is not a seal's. */
export function parseSealName(name: string): number | null {
  const m = SEAL_NAME.exec(name);
  if (m === null) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** The file name of the segment whose first record has seq `firstSeq`: 20 digits, zero-padded, `.wal`. */
export function segmentName(firstSeq: number): string {
  return String(firstSeq).padStart(20, "0") + ".wal";
}

/** The first seq a segment file name carries, or `null` when the name is not a segment's. */
export function parseSegmentName(name: string): number | null {
  const m = SEGMENT_NAME.exec(name);
  if (m === null) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** Writes a u64 that is a safe integer, little-endian. */
export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

/** Reads a little-endian u64; values above 2^53 come back unsafe and are rejected by the callers' seq checks. */
export function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 0x1_0000_0000;
}

/**
 * The 32-byte header of a segment whose first record will have seq `firstSeq`. `version` is the layout of the
 * records it will hold: the current one for new records; a copy of an older segment's raw records keeps theirs.
 */
export function encodeSegmentHeader(firstSeq: number, version: number = FORMAT_VERSION, generation = 0): Uint8Array {
  if (version < OLDEST_FORMAT_VERSION || version > FORMAT_VERSION) throw new RangeError(`no format version ${version}`);
  const bytes = new Uint8Array(SEGMENT_HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  bytes.set(SEGMENT_MAGIC, 0);
  view.setUint16(8, version, true);
  view.setUint16(10, SEGMENT_HEADER_SIZE, true);
  setU64(view, 12, firstSeq);
  setU64(view, 20, generation);
  view.setUint32(28, crc32(bytes.subarray(0, 28)), true);
  return bytes;
}

/** What a segment header says, or why it cannot be used. */
export type SegmentHeaderResult =
  | { ok: true; firstSeq: number; headerSize: number; version: number; generation: number }
  | { ok: false; reason: "short" | "magic" | "checksum" | "newer-version"; version?: number };

/** Bytes of the header a segment declares (bytes 10..11), for reading a newer version's whole header. */
export function declaredHeaderSize(bytes: Uint8Array): number {
  return bytes.length < 12 ? SEGMENT_HEADER_SIZE : bytes[10] | (bytes[11] << 8);
}

/**
 * Checks and reads a segment header from the first bytes of a file (at least `declaredHeaderSize` of them when
 * the version is newer than this code's).
 */
export function decodeSegmentHeader(bytes: Uint8Array): SegmentHeaderResult {
  if (bytes.length < SEGMENT_HEADER_SIZE) return { ok: false, reason: "short" };
  for (let i = 0; i < SEGMENT_MAGIC.length; i++) {
    if (bytes[i] !== SEGMENT_MAGIC[i]) return { ok: false, reason: "magic" };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = view.getUint16(8, true);
  if (version > FORMAT_VERSION) {
    // Only a header whose own checksum holds is a newer writer's; otherwise a flipped bit made it look newer.
    const size = view.getUint16(10, true);
    const intact = size >= 16 && size <= bytes.length && view.getUint32(size - 4, true) === crc32(bytes.subarray(0, size - 4));
    return intact ? { ok: false, reason: "newer-version", version } : { ok: false, reason: "checksum" };
  }
  if (view.getUint32(28, true) !== crc32(bytes.subarray(0, 28))) return { ok: false, reason: "checksum" };
  const headerSize = view.getUint16(10, true);
  if (version < OLDEST_FORMAT_VERSION || headerSize !== SEGMENT_HEADER_SIZE) return { ok: false, reason: "checksum" };
  const generation = getU64(view, 20);
  return { ok: true, firstSeq: getU64(view, 12), headerSize, version, generation: Number.isSafeInteger(generation) ? generation : 0 };
}

/** The contents of a `TRUNCATE` file that says every record with seq <= `upTo` is to be removed. */
export function encodeTruncateFile(upTo: number, magic: number = TRUNCATE_MAGIC): Uint8Array {
  const bytes = new Uint8Array(TRUNCATE_FILE_SIZE);
  const view = new DataView(bytes.buffer);
  setU64(view, 0, upTo);
  view.setUint32(8, magic, true);
  view.setUint32(12, crc32(bytes.subarray(0, 12)), true);
  return bytes;
}

/** The `upTo` of a `TRUNCATE` file, or `null` if the file is incomplete, damaged or a cut of the tail. */
export function decodeTruncateFile(bytes: Uint8Array, magic: number = TRUNCATE_MAGIC): number | null {
  if (bytes.length !== TRUNCATE_FILE_SIZE) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.getUint32(8, true) !== magic) return null;
  if (view.getUint32(12, true) !== crc32(bytes.subarray(0, 12))) return null;
  const upTo = getU64(view, 0);
  return Number.isSafeInteger(upTo) ? upTo : null;
}

/** The contents of a `TRUNCATE` file (magic "TRNA") that says every record with seq > `keepThrough` is to be removed. */
export function encodeTruncateAfterFile(keepThrough: number): Uint8Array {
  return encodeTruncateFile(keepThrough, TRUNCATE_AFTER_MAGIC);
}

/** The `keepThrough` of a `TRUNCATE` file of magic "TRNA", or `null` if it is not one or is incomplete or damaged. */
export function decodeTruncateAfterFile(bytes: Uint8Array): number | null {
  return decodeTruncateFile(bytes, TRUNCATE_AFTER_MAGIC);
}
