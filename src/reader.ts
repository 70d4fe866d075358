/**
 * Sequential reading of one segment: checks every record against the rules of `format.ts` and stops at the
 * first that breaks one, reporting where and why. Reads in large chunks, so memory stays bounded by the chunk
 * size (or by the largest record) whatever the segment's size.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  CHECKPOINT_OP,
  COMMIT_OP,
  CRC_CHAIN_RESET,
  crc32Range,
  crc32Small,
  FORMAT_VERSION,
  HEADER_CRC_SPAN,
  FLAG_BATCH,
  FLAG_BYTES,
  getU64,
  KIND_CHECKPOINT,
  KIND_COMMIT,
  KIND_DATA,
  KNOWN_FLAGS,
  MAX_OP_TYPE_BYTES,
  MAX_PAYLOAD_BYTES,
  recordHeaderSize,
  SEGMENT_HEADER_SIZE,
} from "./format.ts";
import { crc32 } from "./crc32.ts";
import { leaseWalker, releaseWalker, walkChunk } from "./walk.ts";
import type { WalkState } from "./walk.ts";
import type { WalFile } from "./io/types.ts";

/** A record as the application sees it. */
export interface WalRecord {
  /** Its sequence number: 1, 2, 3, ... across the whole log. */
  seqNum: number;
  /** "PUT", "DELETE", an application's own name, or (from `iterate()` only) "COMMIT" / "CHECKPOINT". */
  opType: string;
  /** The key; "" for COMMIT and CHECKPOINT. */
  key: string;
  /** A string if a string was appended, a Uint8Array if bytes were. */
  value: string | Uint8Array;
}

const CHUNK_SIZE = 4 * 1024 * 1024;
/** Records this large get an array of their own (see `#loadLarge`). */
const LARGE_RECORD = 32 * 1024;

/**
 * A read chunk that scanners use one after another (never two at once): a cursor or an open keeps one for all
 * the segments it reads, so that reading a log allocates one chunk, not one per segment.
 */
export class ReadBuffer {
  /** The bytes. */
  bytes: Uint8Array;
  /** A DataView of `bytes`. */
  view: DataView;
  /** A Buffer over `bytes`: its utf8 slice is 2x faster than TextDecoder on all three runtimes. */
  text: Buffer;
  constructor(size = CHUNK_SIZE) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
    this.text = Buffer.from(this.bytes.buffer, 0, size);
  }
  /** A read buffer over existing bytes (the WebAssembly walker's memory: see walk.ts). */
  static over(bytes: Uint8Array): ReadBuffer {
    const rb = new ReadBuffer(0);
    rb.bytes = bytes;
    rb.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    rb.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return rb;
  }
  /** Replaces the bytes with a larger array holding `kept` bytes copied from `keepFrom`. */
  grow(size: number, keepFrom: number, kept: number): void {
    const bigger = new Uint8Array(size);
    if (kept > 0) bigger.set(this.bytes.subarray(keepFrom, keepFrom + kept));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
    this.text = Buffer.from(bigger.buffer, 0, size);
  }
}

/**
 * Bytes of records one chained checksum covers at most (see `CRC_CHAIN_RESET`). CRC-32 (IEEE) detects every error
 * of up to 3 bits in messages of up to 91,607 bits (Koopman), and all bursts of up to 32 bits in any: runs this
 * short keep those guarantees for each run, where one run per 1 MiB chunk would keep only the 2-bit one. About
 * 3,000 native calls for a 35 MB log instead of 200,000 (one per record).
 */
export const CHAIN_RUN_BYTES = 11 * 1024;

/**
 * Runs a synchronous verification scan `fn` with the WebAssembly walker's memory as its read chunk (see walk.ts)
 * when no other scan holds it, else with `fallback` (grown to `want` bytes if smaller; its scan then runs the
 * JavaScript loop). The walker's memory is scratch: `verifyToEnd` leaves the checksum fields of records it
 * verified replaced there (putting them back costs ~1 ms per 200,000 records), so nothing may decode records from
 * it, and it is given back when `fn` returns. A scan nested in another (a custom file system's `read` that opens
 * another log) gets `fallback`, so it never overwrites the outer scan's bytes.
 */
export function withScanChunk<T>(fallback: ReadBuffer, want: number, fn: (chunk: ReadBuffer) => T): T {
  const walker = leaseWalker();
  if (walker === null) {
    if (fallback.bytes.length < want) fallback.grow(want, 0, 0);
    return fn(fallback);
  }
  try {
    return fn(ReadBuffer.over(walker.bytes));
  } finally {
    releaseWalker();
  }
}

/** Why a scan stopped before the end of the bytes it was given. */
export interface ScanStop {
  /** File offset of the record (or header) that could not be used. */
  offset: number;
  /** The seq that was expected there. */
  seq: number;
  /** What was wrong. */
  reason: string;
}

/**
 * Walks the records of one segment. A flyweight: after `next()` returns true, the fields describe the current
 * record until the next call. Batch bookkeeping is tracked so that callers know where the last complete unit
 * (standalone record, COMMIT or CHECKPOINT) ends: that is where a torn tail is cut.
 */
export class SegmentScanner {
  /** Seq of the current record. */
  seq = 0;
  /** Kind of the current record. */
  kind = 0;
  /** Flags of the current record. */
  flags = 0;
  /** File offset of the current record. */
  offset = 0;
  /** Total bytes of the current record. */
  length = 0;
  /** Why the scan stopped early, once `next()` has returned false; null at a clean end. */
  stop: ScanStop | null = null;
  /** File offset just past the last complete unit. */
  unitEnd: number;
  /** Seq of the last record of the last complete unit (firstSeq - 1 if none). */
  unitSeq: number;
  /**
   * File offset of the last record of the last complete unit, -1 if none (kept by `next()` and `verifyToEnd`):
   * a reader beside a live writer rereads its checksum to notice the tail was cut and rewritten.
   */
  unitStart = -1;
  /** Batch members seen since the last complete unit. */
  pendingMembers = 0;
  /** Where zeros running to the end of the section begin, once the scan ended on them (else -1). */
  zerosFrom = -1;
  /** The segment's format version (1 or 2): the layout of its records. */
  readonly version: number;
  /**
   * Once the scan stopped at a record whose header checked out (version 2 only): that record's total length,
   * so that what follows it can be found without looking into its payload. Otherwise -1.
   */
  stopLength = -1;

  #file: WalFile;
  #end: number;
  #rb: ReadBuffer;
  // Copies of #rb's fields, refreshed when it grows: the hot loop reads them once per record.
  #buf: Uint8Array;
  #view: DataView;
  #text: Buffer;
  #bufStart = 0; // file offset of #buf[0]
  #bufLen = 0;
  #pos: number; // file offset of the next record
  #expected: number;
  #recStart = 0; // index in #cur of the current record
  // Where the current record's bytes are: the chunk, or (for a large record) an array of its own.
  #cur: Uint8Array;
  #curView: DataView;
  #curText: Buffer;
  // How much a refill reads beyond what is needed: the chunk, or one page after a large record (whose payload
  // is read straight into its own array, so that it is not copied twice).
  #readAhead = CHUNK_SIZE;
  #v2: boolean;
  /** Record header size of this segment's version. */
  #hs: number;

  /**
   * @param file an open segment
   * @param firstSeq the seq its first record must have
   * @param end file offset to stop at (the file's size, or less to ignore bytes written after a read began)
   * @param start file offset of the first record to read (default: just after the segment header)
   * @param chunk a read buffer to use (and grow) instead of allocating one
   * @param version the segment's format version; read from its header when not given
   */
  constructor(
    file: WalFile,
    firstSeq: number,
    end: number,
    start = SEGMENT_HEADER_SIZE,
    chunk?: ReadBuffer,
    version?: number,
  ) {
    this.version = version ?? headerVersion(file);
    this.#v2 = this.version !== 1;
    this.#hs = recordHeaderSize(this.version);
    this.#file = file;
    this.#end = end;
    this.#rb = chunk ?? new ReadBuffer(Math.min(CHUNK_SIZE, Math.max(end - start, 4096)));
    this.#buf = this.#rb.bytes;
    this.#view = this.#rb.view;
    this.#text = this.#rb.text;
    this.#cur = this.#buf;
    this.#curView = this.#view;
    this.#curText = this.#text;
    this.#pos = start;
    this.#bufStart = start;
    this.#expected = firstSeq;
    this.unitEnd = start;
    this.unitSeq = firstSeq - 1;
  }

  /** Makes bytes [pos, pos + n) available in the buffer; false if the file section ends first. */
  #ensure(pos: number, n: number): boolean {
    if (pos + n > this.#end) return false;
    const have = this.#bufStart + this.#bufLen;
    if (pos >= this.#bufStart && pos + n <= have) return true;
    // Keep the unread tail, grow for oversize records, then fill from the file.
    const keepFrom = pos - this.#bufStart;
    const kept = keepFrom >= 0 && keepFrom < this.#bufLen ? this.#bufLen - keepFrom : 0;
    if (n > this.#buf.length) {
      this.#rb.grow(n, keepFrom, kept);
      this.#buf = this.#rb.bytes;
      this.#view = this.#rb.view;
      this.#text = this.#rb.text;
    } else if (kept > 0) {
      this.#buf.copyWithin(0, keepFrom, keepFrom + kept);
    }
    this.#bufStart = pos;
    const want = Math.min(this.#buf.length - kept, this.#end - (pos + kept), Math.max(n - kept, this.#readAhead));
    const got = this.#file.read(this.#buf.subarray(kept, kept + want), pos + kept);
    this.#bufLen = kept + got;
    return this.#bufLen >= n;
  }

  /** True if every byte from `pos` to the end of the section is zero. */
  #zerosToEnd(pos: number): boolean {
    const step = 64 * 1024;
    for (let at = pos; at < this.#end; at += step) {
      const n = Math.min(step, this.#end - at);
      if (!this.#ensure(at, n)) return false;
      const from = at - this.#bufStart;
      const buf = this.#buf;
      for (let i = from; i < from + n; i++) if (buf[i] !== 0) return false;
    }
    return true;
  }

  /** Ends the scan at preallocated zeros: a clean end, unless a batch is still open. */
  #zeroEnd(): false {
    if (this.pendingMembers > 0) return this.#fail("batch members without their COMMIT");
    this.zerosFrom = this.#pos;
    this.#pos = this.#end;
    return false;
  }

  #fail(reason: string): false {
    this.stop = { offset: this.#pos, seq: this.#expected, reason };
    return false;
  }

  /** Advances to the next record; false at the end of the section or at the first bad record (see `stop`). */
  next(): boolean {
    if (this.stop !== null) return false;
    const pos = this.#pos;
    if (pos >= this.#end) {
      if (this.pendingMembers > 0) return this.#fail("batch members without their COMMIT");
      return false;
    }
    const hs = this.#hs;
    if (!this.#ensure(pos, hs)) {
      return this.#zerosToEnd(pos) ? this.#zeroEnd() : this.#fail("incomplete record header");
    }
    let at = pos - this.#bufStart;
    const view = this.#view;
    // A zero header where a record should start: the writer's preallocated space, if zeros run to the end.
    if (view.getUint32(at, true) === 0 && view.getUint32(at + 12, true) === 0 && this.#zerosToEnd(pos)) {
      return this.#zeroEnd();
    }
    const v2 = this.#v2;
    const opLen = view.getUint16(at + 14, true);
    const keyLen = view.getUint32(at + 16, true);
    const valueLen = view.getUint32(at + 20, true);
    const payload = opLen + keyLen + valueLen;
    if (payload > MAX_PAYLOAD_BYTES || opLen > MAX_OP_TYPE_BYTES) return this.#fail("record lengths out of range");
    const length = hs + payload;
    // Version 2: a header that checks out by itself has trustworthy lengths, whatever the payload holds, so
    // what follows the record can be found without looking into it (see `stopLength`).
    const headerLength = v2 && view.getUint32(at + 28, true) === crc32Small(this.#buf, at + 4, HEADER_CRC_SPAN) ? length : -1;
    let buf: Uint8Array;
    let recView: DataView;
    if (length >= LARGE_RECORD) {
      if (pos + length > this.#end) return this.#failAt("record runs past the end of the file", headerLength);
      buf = this.#loadLarge(pos, length);
      if (buf.length < length) return this.#failAt("record runs past the end of the file", headerLength);
      recView = this.#curView;
      at = 0;
    } else {
      if (!this.#ensure(pos, length)) return this.#failAt("record runs past the end of the file", headerLength);
      if (this.#readAhead < CHUNK_SIZE) this.#readAhead = Math.min(CHUNK_SIZE, this.#readAhead * 2);
      at = pos - this.#bufStart;
      buf = this.#buf;
      recView = this.#view;
      this.#cur = buf;
      this.#curView = recView;
      this.#curText = this.#text;
    }
    if (recView.getUint32(at, true) !== crc32Range(buf, at + 4, length - 4)) {
      return this.#failAt(headerLength < 0 ? "checksum mismatch" : "payload checksum mismatch", headerLength);
    }
    const problem = this.#headerProblem(getU64(recView, at + 4), buf[at + 12], buf[at + 13], opLen, payload);
    if (problem !== null) return this.#failAt(problem, v2 ? length : -1);
    const seq = getU64(recView, at + 4);
    const kind = buf[at + 12];
    const flags = buf[at + 13];
    this.seq = seq;
    this.kind = kind;
    this.flags = flags;
    this.offset = pos;
    this.length = length;
    this.#recStart = at;
    this.#pos = pos + length;
    this.#expected = seq + 1;
    if (kind === KIND_DATA && (flags & FLAG_BATCH) !== 0) {
      this.pendingMembers++;
    } else {
      this.pendingMembers = 0;
      this.unitStart = pos;
      this.unitEnd = this.#pos;
      this.unitSeq = seq;
    }
    return true;
  }

  /** Why a record with these header fields cannot come next, or null if it can. */
  #headerProblem(seq: number, kind: number, flags: number, opLen: number, payload: number): string | null {
    if (seq !== this.#expected) return `seq ${seq} where ${this.#expected} was expected`;
    if ((flags & ~KNOWN_FLAGS) !== 0) return `unknown flags ${flags}`;
    if (kind === KIND_DATA) {
      if (opLen === 0) return "data record without an opType";
      if ((flags & FLAG_BATCH) === 0 && this.pendingMembers > 0) return "standalone record inside an uncommitted batch";
    } else if (kind === KIND_COMMIT || kind === KIND_CHECKPOINT) {
      if (flags !== 0 || payload !== 0) return "marker record with flags or payload";
      // Truncate may cut a batch's members off and keep its COMMIT: then that COMMIT opens a segment.
      if (kind === KIND_COMMIT && this.pendingMembers === 0 && this.#pos !== SEGMENT_HEADER_SIZE) {
        return "COMMIT without batch members";
      }
      if (kind === KIND_CHECKPOINT && this.pendingMembers > 0) return "CHECKPOINT inside a batch";
    } else {
      return `unknown record kind ${kind}`;
    }
    return null;
  }

  #failAt(reason: string, length: number): false {
    this.stopLength = length;
    return this.#fail(reason);
  }

  /**
   * Checks every remaining record as `next()` would, without exposing them: the loop of open's verification.
   * Plain data records wholly inside the read chunk are checked here with locals only, a run of them with one
   * native CRC-32 call (see `CRC_CHAIN_RESET`); anything else (a chunk boundary, a marker, a large record, damage,
   * zeros, the end) goes through `next()`, which has the last word. A run whose chained checksum fails is checked
   * again record by record, which stops at the first bad one. After it returns, `stop`, `unitEnd`, `unitSeq`,
   * `pendingMembers` and `zerosFrom` are as after `next()` returned false; the per-record fields are not
   * meaningful.
   */
  verifyToEnd(): void {
    const walker = walkChunk();
    const state = this.#walkState;
    for (;;) {
      const bufStart = this.#bufStart;
      const limit = Math.min(bufStart + this.#bufLen, this.#end);
      const from = this.#pos - bufStart;
      state.expected = this.#expected;
      state.pending = this.pendingMembers;
      state.unitEnd = -1;
      state.unitSeq = this.unitSeq;
      const wasm = walker !== null && this.#buf === walker.bytes;
      const count = wasm
        ? walker.walk(from, limit - bufStart, this.#hs, LARGE_RECORD, CHAIN_RUN_BYTES, state)
        : this.#walkRun(from, limit - bufStart, state);
      if (count === 0) {
        // Nothing the loop can take here (a chunk boundary, a marker, a large record, damage, the end).
        if (!this.next()) return;
        continue;
      }
      const buf = this.#buf;
      const holds = (crc32(buf.subarray(from, state.end)) | 0) === state.last;
      // The walker's memory is scratch (see `withScanChunk`): its checksum fields are put back only when the
      // record-by-record check below needs them. Any other chunk gets them back at once.
      if (wasm) {
        if (!holds) walker.restore(from, count, this.#hs, state.last);
      } else {
        this.#restoreRun(from, count, state.last);
      }
      if (!holds) {
        this.#verifyEach(limit);
        if (!this.next()) return;
        continue;
      }
      this.#pos = bufStart + state.end;
      this.#expected = state.expected;
      this.pendingMembers = state.pending;
      if (state.unitEnd >= 0) {
        this.unitEnd = bufStart + state.unitEnd;
        this.unitStart = bufStart + state.unitStart;
        this.unitSeq = state.unitSeq;
      }
    }
  }

  /** The scan state `verifyToEnd` hands to a walk of one run and gets back. */
  #walkState: WalkState = { expected: 0, pending: 0, unitEnd: -1, unitStart: -1, unitSeq: 0, end: 0, last: 0 };

  /**
   * The JavaScript form of `src/walk.wat` (see `ChunkWalker.walk`), for a chunk outside the WebAssembly module's
   * memory or a runtime without WebAssembly: takes plain data records wholly inside chunk offsets [pos, limit),
   * at most `CHAIN_RUN_BYTES` of them (unless the first alone is longer), replacing each checksum field by the
   * chain reset that makes one CRC-32 of the run check every record.
   */
  #walkRun(pos: number, limit: number, state: WalkState): number {
    const hs = this.#hs;
    const buf = this.#buf;
    const view = this.#view;
    let expected = state.expected;
    let pending = state.pending;
    let count = 0;
    let last = 0;
    // The running CRC-32's register as the next record's checksum field is reached (all ones at the start).
    let register = -1;
    const start = pos;
    while (pos + hs <= limit) {
      const opLen = view.getUint16(pos + 14, true);
      const keyLen = view.getUint32(pos + 16, true);
      const valueLen = view.getUint32(pos + 20, true);
      if (opLen === 0 || opLen > MAX_OP_TYPE_BYTES || keyLen >= LARGE_RECORD || valueLen >= LARGE_RECORD) break;
      const length = hs + opLen + keyLen + valueLen;
      if (length >= LARGE_RECORD || pos + length > limit) break;
      if (count > 0 && pos + length - start > CHAIN_RUN_BYTES) break;
      if (buf[pos + 12] !== KIND_DATA || (buf[pos + 13] & ~KNOWN_FLAGS) !== 0) break;
      const seq = getU64(view, pos + 4);
      if (seq !== expected) break;
      const inBatch = (buf[pos + 13] & FLAG_BATCH) !== 0;
      if (!inBatch && pending > 0) break;
      const stored = view.getInt32(pos, true);
      view.setInt32(pos, register ^ CRC_CHAIN_RESET, true);
      register = ~stored;
      last = stored;
      const recordStart = pos;
      pos += length;
      expected = seq + 1;
      count++;
      if (inBatch) {
        pending++;
      } else {
        state.unitStart = recordStart;
        state.unitEnd = pos;
        state.unitSeq = seq;
      }
    }
    state.expected = expected;
    state.pending = pending;
    state.end = pos;
    state.last = last;
    return count;
  }

  /** Puts back the checksum fields `#walkRun` replaced (see `ChunkWalker.restore`). */
  #restoreRun(pos: number, count: number, last: number): void {
    const view = this.#view;
    const hs = this.#hs;
    for (let i = 1; i < count; i++) {
      const next = pos + hs + view.getUint16(pos + 14, true) + view.getUint32(pos + 16, true) + view.getUint32(pos + 20, true);
      view.setInt32(pos, ~(view.getInt32(next, true) ^ CRC_CHAIN_RESET), true);
      pos = next;
    }
    view.setInt32(pos, last, true);
  }

  /** `verifyToEnd`'s loop with one checksum per record: finds the record a failed chained checksum is about. */
  #verifyEach(limit: number): void {
    const hs = this.#hs;
    const buf = this.#buf;
    const view = this.#view;
    const bufStart = this.#bufStart;
    let pos = this.#pos;
    let expected = this.#expected;
    let pending = this.pendingMembers;
    let unitEnd = this.unitEnd;
    let unitSeq = this.unitSeq;
    let unitStart = this.unitStart;
    while (pos + hs <= limit) {
      const at = pos - bufStart;
      const opLen = view.getUint16(at + 14, true);
      const payload = opLen + view.getUint32(at + 16, true) + view.getUint32(at + 20, true);
      const length = hs + payload;
      if (opLen === 0 || opLen > MAX_OP_TYPE_BYTES || length >= LARGE_RECORD || pos + length > limit) break;
      if (buf[at + 12] !== KIND_DATA || (buf[at + 13] & ~KNOWN_FLAGS) !== 0) break;
      if (view.getUint32(at, true) !== crc32Range(buf, at + 4, length - 4)) break;
      const seq = getU64(view, at + 4);
      if (seq !== expected) break;
      const inBatch = (buf[at + 13] & FLAG_BATCH) !== 0;
      if (!inBatch && pending > 0) break;
      const recordStart = pos;
      pos += length;
      expected = seq + 1;
      if (inBatch) {
        pending++;
      } else {
        unitStart = recordStart;
        unitEnd = pos;
        unitSeq = seq;
      }
    }
    this.#pos = pos;
    this.#expected = expected;
    this.pendingMembers = pending;
    this.unitEnd = unitEnd;
    this.unitStart = unitStart;
    this.unitSeq = unitSeq;
  }

  /**
   * Decodes standalone data records wholly inside the read chunk straight onto `out` (skipping seqs up to
   * `afterSeq`) until it holds `limit`: the hot loop of replay. Stops at anything else (batch member, marker,
   * large record, chunk boundary, damage), which the caller then takes through `next()`, or once the records
   * taken reach `maxBytes` (as stored). Returns the bytes taken. The per-record fields are not meaningful after it.
   */
  collect(out: WalRecord[], limit: number, afterSeq: number, maxBytes: number = Infinity): number {
    if (this.stop !== null || this.pendingMembers > 0) return 0;
    let bytes = 0;
    const buf = this.#buf;
    const view = this.#view;
    const text = this.#text;
    const bufStart = this.#bufStart;
    const limitPos = Math.min(bufStart + this.#bufLen, this.#end);
    let pos = this.#pos;
    let expected = this.#expected;
    let unitSeq = this.unitSeq;
    let unitStart = this.unitStart;
    const hs = this.#hs;
    while (out.length < limit && bytes < maxBytes && pos + hs <= limitPos) {
      const at = pos - bufStart;
      const opLen = view.getUint16(at + 14, true);
      const keyLen = view.getUint32(at + 16, true);
      const valueLen = view.getUint32(at + 20, true);
      const length = hs + opLen + keyLen + valueLen;
      const flags = buf[at + 13];
      if (opLen === 0 || opLen > MAX_OP_TYPE_BYTES || length >= LARGE_RECORD || pos + length > limitPos) break;
      if (buf[at + 12] !== KIND_DATA || (flags & ~FLAG_BYTES) !== 0) break;
      if (view.getUint32(at, true) !== crc32Range(buf, at + 4, length - 4)) break;
      const seq = getU64(view, at + 4);
      if (seq !== expected) break;
      unitStart = pos;
      pos += length;
      expected = seq + 1;
      unitSeq = seq;
      if (seq <= afterSeq) continue;
      bytes += length;
      const opStart = at + hs;
      const keyStart = opStart + opLen;
      const valueStart = keyStart + keyLen;
      out.push({
        seqNum: seq,
        opType: opLen === 3 && buf[opStart] === 0x50 && buf[opStart + 1] === 0x55 && buf[opStart + 2] === 0x54
          ? "PUT"
          : text.toString("utf8", opStart, keyStart),
        key: keyLen === 0 ? "" : text.toString("utf8", keyStart, valueStart),
        value: (flags & FLAG_BYTES) !== 0
          ? buf.slice(valueStart, valueStart + valueLen)
          : valueLen === 0
          ? ""
          : text.toString("utf8", valueStart, valueStart + valueLen),
      });
    }
    this.#pos = pos;
    this.#expected = expected;
    this.unitEnd = pos;
    this.unitStart = unitStart;
    this.unitSeq = unitSeq;
    return bytes;
  }

  /** The seq the next record must have: everything before it has been read (and checked). */
  get expectedSeq(): number {
    return this.#expected;
  }

  /**
   * Reads a large record into an array of its own: the part already in the chunk is copied, the rest read
   * straight from the file. Returns fewer bytes than `length` if the file ends first.
   */
  #loadLarge(pos: number, length: number): Uint8Array {
    const rec = new Uint8Array(length);
    const inChunk = Math.max(0, Math.min(length, this.#bufStart + this.#bufLen - pos));
    if (inChunk > 0) rec.set(this.#buf.subarray(pos - this.#bufStart, pos - this.#bufStart + inChunk));
    const got = inChunk + (inChunk < length ? this.#file.read(rec.subarray(inChunk), pos + inChunk) : 0);
    this.#readAhead = 4096;
    this.#cur = rec;
    this.#curView = new DataView(rec.buffer);
    this.#curText = Buffer.from(rec.buffer, 0, length);
    return got < length ? rec.subarray(0, got) : rec;
  }

  /** The current record as the application sees it. */
  record(): WalRecord {
    const buf = this.#cur;
    const text = this.#curText;
    const view = this.#curView;
    const at = this.#recStart;
    if (this.kind !== KIND_DATA) {
      return { seqNum: this.seq, opType: this.kind === KIND_COMMIT ? COMMIT_OP : CHECKPOINT_OP, key: "", value: "" };
    }
    const opLen = view.getUint16(at + 14, true);
    const keyLen = view.getUint32(at + 16, true);
    const valueLen = view.getUint32(at + 20, true);
    const opStart = at + this.#hs;
    const keyStart = opStart + opLen;
    const valueStart = keyStart + keyLen;
    const valueEnd = valueStart + valueLen;
    return {
      seqNum: this.seq,
      opType: opLen === 3 && buf[opStart] === 0x50 && buf[opStart + 1] === 0x55 && buf[opStart + 2] === 0x54
        ? "PUT"
        : text.toString("utf8", opStart, opStart + opLen),
      key: keyLen === 0 ? "" : text.toString("utf8", keyStart, keyStart + keyLen),
      // A large record's array is its own: its bytes value is a view, not a second copy.
      value: (this.flags & FLAG_BYTES) !== 0
        ? (buf === this.#buf ? buf.slice(valueStart, valueEnd) : buf.subarray(valueStart, valueEnd))
        : valueLen === 0
        ? ""
        : text.toString("utf8", valueStart, valueEnd),
    };
  }

  /** The raw bytes of the current record (valid until the next call to `next()`). */
  rawBytes(): Uint8Array {
    return this.#cur.subarray(this.#recStart, this.#recStart + this.length);
  }
}

/** The format version a segment's header declares (1 or, for anything else, the current one). */
function headerVersion(file: WalFile): number {
  const bytes = new Uint8Array(2);
  return file.read(bytes, 8) === 2 && (bytes[0] | (bytes[1] << 8)) === 1 ? 1 : FORMAT_VERSION;
}
