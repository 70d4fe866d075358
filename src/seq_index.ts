/**
 * Where each record of one segment starts, by seq: what lets `read(seq)` fetch a record with one positioned read.
 * An index is a growable typed array of record offsets (`seq - firstSeq` is the slot) plus the end of the last
 * record, so a record's length is the next offset minus its own: 4 bytes per record while the segment stays
 * under 4 GiB, 8 after. It is built by walking the record headers of the segment file (`extendIndex`), or fed by
 * the writer as it writes (`addWritten`).
 *
 * @module
 */

import {
  crc32Small,
  getU64,
  HEADER_CRC_SPAN,
  KIND_CHECKPOINT,
  KIND_COMMIT,
  KIND_DATA,
  KNOWN_FLAGS,
  MAX_OP_TYPE_BYTES,
  MAX_PAYLOAD_BYTES,
  RECORD_HEADER_SIZE,
  SEGMENT_HEADER_SIZE,
} from "./format.ts";
import type { WalFile } from "./io/types.ts";

/** Offsets past this need a Float64Array (a segment larger than 4 GiB: one unit larger than maxFileSize). */
const U32_LIMIT = 0xffff_ffff;
/** Bytes an index build reads at a time: the read chunk of every other read of the log. */
const BUILD_CHUNK = 4 * 1024 * 1024;

/** Why an index build stopped before the end it was asked to reach (where the segment's records stop making sense). */
export interface IndexStop {
  /** File offset of what could not be read as the next record. */
  offset: number;
  /** The seq expected there. */
  seq: number;
  /** What was wrong. */
  reason: string;
}

/**
 * The record offsets of one segment, by seq, from its first record on without a gap.
 *
 * @example
 * ```ts
 * const index = new SegmentIndex(1, 32);
 * index.add(32, 40); // seq 1: 40 bytes at offset 32
 * index.add(72, 32); // seq 2
 * console.log(index.offset(2), index.length(2), index.end); // 72 32 104
 * ```
 */
export class SegmentIndex {
  /** Seq of the segment's first record. */
  readonly firstSeq: number;
  /** Record header size of the segment's format version (32, or 24 for version 1). */
  readonly headerSize: number;
  #offsets: Uint32Array | Float64Array;
  #count = 0;
  #end: number;

  /**
   * @param firstSeq seq of the segment's first record
   * @param headerSize record header size of its format version
   * @param start file offset of its first record (just after the segment header)
   */
  constructor(firstSeq: number, headerSize: number, start = SEGMENT_HEADER_SIZE, capacity = 1024) {
    this.firstSeq = firstSeq;
    this.headerSize = headerSize;
    this.#end = start;
    this.#offsets = new Uint32Array(capacity);
  }

  /** Records indexed. */
  get count(): number {
    return this.#count;
  }

  /** File offset just past the last record indexed (the segment header's end when none is). */
  get end(): number {
    return this.#end;
  }

  /** Seq of the first record not indexed yet. */
  get nextSeq(): number {
    return this.firstSeq + this.#count;
  }

  /** Bytes the offsets take now. */
  get memoryBytes(): number {
    return this.#offsets.byteLength;
  }

  /** True if the record `seq` is indexed. */
  has(seq: number): boolean {
    return seq >= this.firstSeq && seq - this.firstSeq < this.#count;
  }

  /** File offset of the record `seq` (indexed: see {@link has}). */
  offset(seq: number): number {
    return this.#offsets[seq - this.firstSeq];
  }

  /** Total bytes of the record `seq` (indexed: see {@link has}). */
  length(seq: number): number {
    const i = seq - this.firstSeq;
    return (i + 1 < this.#count ? this.#offsets[i + 1] : this.#end) - this.#offsets[i];
  }

  /** Adds the next record: `length` bytes at `offset`, which must be {@link end}; false (nothing added) otherwise. */
  add(offset: number, length: number): boolean {
    if (offset !== this.#end) return false;
    let offsets = this.#offsets;
    if (this.#count === offsets.length || (offset > U32_LIMIT && offsets instanceof Uint32Array)) {
      const size = Math.max(64, offsets.length * 2);
      const bigger = offset > U32_LIMIT || offsets instanceof Float64Array ? new Float64Array(size) : new Uint32Array(size);
      bigger.set(offsets.subarray(0, this.#count));
      this.#offsets = offsets = bigger;
    }
    offsets[this.#count++] = offset;
    this.#end = offset + length;
    return true;
  }

  /** Forgets every record with seq > `seq` (all of them when `seq` < firstSeq). */
  dropAfter(seq: number): void {
    const keep = Math.max(0, Math.min(this.#count, seq - this.firstSeq + 1));
    if (keep === this.#count) return;
    this.#end = this.#offsets[keep];
    this.#count = keep;
  }

  /** Gives back the spare capacity (for a segment that will not grow: sealed). */
  compact(): void {
    if (this.#offsets.length > this.#count + 16) this.#offsets = this.#offsets.slice(0, this.#count);
  }
}

/**
 * Indexes records the writer just wrote (version 2, seqs in order): `bytes[from..to)` went to file offset `at`.
 * Returns false, leaving the index unusable for them, when they do not continue it (a gap, a seq out of order).
 */
export function addWritten(index: SegmentIndex, bytes: Uint8Array, from: number, to: number, at: number): boolean {
  if (index.headerSize !== RECORD_HEADER_SIZE || at !== index.end) return false;
  let seq = index.nextSeq;
  for (let p = from; p < to;) {
    if (p + RECORD_HEADER_SIZE > to) return false;
    // Little-endian fields read by hand: no DataView per write.
    const recSeq = u32(bytes, p + 4) + u32(bytes, p + 8) * 0x1_0000_0000;
    const length = RECORD_HEADER_SIZE + (bytes[p + 14] | (bytes[p + 15] << 8)) + u32(bytes, p + 16) + u32(bytes, p + 20);
    if (recSeq !== seq || p + length > to) return false;
    index.add(at + (p - from), length);
    p += length;
    seq++;
  }
  return true;
}

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/**
 * Extends `index` by walking the record headers of `file` from `index.end` to `to` (one sequential pass, 4 MiB
 * reads; payloads are never checksummed here: a read checks the record it returns). A header is accepted when its
 * seq is the one expected, its kind, flags and lengths are possible, it fits before `to`, and (version 2) its own
 * checksum holds. Returns null once `to` is reached, or where the walk stopped and why.
 */
export function extendIndex(file: WalFile, index: SegmentIndex, to: number): IndexStop | null {
  const hs = index.headerSize;
  const v2 = hs === RECORD_HEADER_SIZE;
  let pos = index.end;
  let seq = index.nextSeq;
  if (pos >= to) return null;
  const chunk = new Uint8Array(Math.min(BUILD_CHUNK, Math.max(to - pos, hs)));
  const view = new DataView(chunk.buffer);
  let bufStart = pos;
  let bufLen = 0;
  const stop = (reason: string): IndexStop => ({ offset: pos, seq, reason });
  while (pos < to) {
    if (pos + hs > to) return stop("incomplete record header");
    if (pos < bufStart || pos + hs > bufStart + bufLen) {
      bufStart = pos;
      bufLen = file.read(chunk.subarray(0, Math.min(chunk.length, to - pos)), pos);
      if (bufLen < hs) return stop("the file ends inside a record header");
    }
    const at = pos - bufStart;
    const opLen = view.getUint16(at + 14, true);
    const payload = opLen + view.getUint32(at + 16, true) + view.getUint32(at + 20, true);
    const kind = chunk[at + 12];
    const flags = chunk[at + 13];
    const recSeq = getU64(view, at + 4);
    if (v2 && view.getUint32(at + 28, true) !== crc32Small(chunk, at + 4, HEADER_CRC_SPAN)) {
      return stop(view.getUint32(at, true) === 0 && recSeq === 0 ? "zeros where a record should start" : "record header checksum mismatch");
    }
    if (recSeq !== seq) return stop(`seq ${recSeq} where ${seq} was expected`);
    if (payload > MAX_PAYLOAD_BYTES || opLen > MAX_OP_TYPE_BYTES) return stop("record lengths out of range");
    if ((flags & ~KNOWN_FLAGS) !== 0) return stop(`unknown flags ${flags}`);
    if (kind === KIND_DATA ? opLen === 0 : (kind !== KIND_COMMIT && kind !== KIND_CHECKPOINT) || payload !== 0) {
      return stop(`record kind ${kind} with these lengths is not possible`);
    }
    const length = hs + payload;
    if (pos + length > to) return stop("record runs past the end of the segment");
    index.add(pos, length);
    pos += length;
    seq++;
  }
  return null;
}
