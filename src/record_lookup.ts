/**
 * `read(seq)`: one record by its seq with one positioned read, through a {@link SegmentIndex} per segment.
 *
 * The newest (active) segment's index is built on the first read that needs it, then kept current by the
 * writer (through {@link RecordLookup.written}) as it writes; at a rotation it becomes a sealed one. A sealed
 * segment's index is built on the first read into it (one pass over its headers) and kept in a small LRU cache,
 * so memory stays bounded however large the log. Each cached index keeps its segment's read descriptor open.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { WalCorruptionError } from "./errors.ts";
import {
  CHECKPOINT_OP,
  COMMIT_OP,
  crc32Range,
  FLAG_BYTES,
  FORMAT_VERSION,
  getU64,
  KIND_CHECKPOINT,
  KIND_COMMIT,
  KIND_DATA,
  KNOWN_FLAGS,
  recordHeaderSize,
  SEGMENT_HEADER_SIZE,
} from "./format.ts";
import type { WalFile, WalFileSystem } from "./io/types.ts";
import type { WalRecord } from "./reader.ts";
import { readSegmentHeader } from "./segment.ts";
import type { SegmentInfo } from "./segment.ts";
import { addWritten, extendIndex, SegmentIndex } from "./seq_index.ts";
import type { IndexStop } from "./seq_index.ts";

/** Sealed segments whose index (and descriptor) is kept: about 1.6 MB of offsets for a 64 MiB segment of 128 B records. */
export const SEALED_CACHED = 4;
/** Records up to this size are read into one reused buffer; a larger one gets an array of its own. */
const REUSED_MAX = 4 * 1024 * 1024;

/** What the writer calls after each write of records to the active segment (see `LogWriter.onWrite`). */
export type WriteHook = (segment: SegmentInfo, bytes: Uint8Array, from: number, to: number, at: number) => void;

/** Where the writer's hook is installed: `onWrite` is set while an index of the active segment exists. */
export interface WriteHookSlot {
  /** The hook, or null while nothing needs to know of writes. */
  onWrite: WriteHook | null;
}

interface Entry {
  segment: SegmentInfo;
  /** Opened on the first read (the writer's hook creates entries without touching the disk). */
  file: WalFile | null;
  index: SegmentIndex;
  /** Where the index build stopped before the segment's end (damage), once it did. */
  stop: IndexStop | null;
}

/**
 * The indexes and read descriptors of one log handle.
 *
 * @example
 * ```ts
 * import { WriteAheadLog } from "@wal/wal";
 * const wal = await WriteAheadLog.open(await Deno.makeTempDir());
 * await wal.append("PUT", "k", "v");
 * console.log(await wal.read(1)); // { seqNum: 1, opType: "PUT", key: "k", value: "v" }
 * await wal.close();
 * ```
 */
export class RecordLookup {
  #fs: WalFileSystem;
  #slot: WriteHookSlot | null;
  #active: Entry | null = null;
  /** Least recently used first. */
  #sealed: Entry[] = [];
  #buf = new Uint8Array(4096);
  #view = new DataView(this.#buf.buffer);
  #text = Buffer.from(this.#buf.buffer, 0, this.#buf.length);
  /** The last subarray handed to a read, reused while records keep the same length. */
  #into = this.#buf.subarray(0, 0);
  #hook: WriteHook = (segment, bytes, from, to, at) => this.written(segment, bytes, from, to, at);

  /** @param slot the writer, told of this lookup's hook while it has an active index (none for a read-only handle) */
  constructor(fs: WalFileSystem, slot: WriteHookSlot | null = null) {
    this.#fs = fs;
    this.#slot = slot;
  }

  /**
   * The record `seq`, which the caller has checked lies between the log's first seq and the last one handed out.
   *
   * @param segments the log's segments, oldest first
   * @param activeEnd bytes of the newest segment visible to reads (its acknowledged records)
   * @param writtenEnd bytes of the newest segment written (at least `activeEnd`): how far its index is built
   * @returns undefined when the record lies past `activeEnd` (not written, or not acknowledged yet)
   * @throws WalCorruptionError when the record (or the way to it) breaks a rule of the format; OS errors as thrown
   */
  read(segments: readonly SegmentInfo[], seq: number, activeEnd: number, writtenEnd: number): WalRecord | undefined {
    const i = segmentOf(segments, seq);
    const last = i === segments.length - 1;
    const entry = last ? this.#activeEntry(segments[i]) : this.#sealedEntry(segments[i]);
    const file = entry.file ?? this.#open(entry);
    const index = entry.index;
    if (!index.has(seq)) {
      if (entry.stop === null) {
        const to = last ? writtenEnd : file.size();
        entry.stop = extendIndex(file, index, to);
        if (!last) index.compact();
      }
      if (!index.has(seq)) {
        if (last && entry.stop === null) return undefined;
        const where = entry.stop ?? { offset: index.end, seq: index.nextSeq, reason: "the segment ends before the next one starts" };
        throw new WalCorruptionError({ file: entry.segment.path, ...where });
      }
    }
    const offset = index.offset(seq);
    const length = index.length(seq);
    if (last && offset + length > activeEnd) return undefined;
    return this.#fetch(entry, file, seq, offset, length);
  }

  /** Reads, checks and decodes the record `seq`: `length` bytes at `offset`, in one read. */
  #fetch(entry: Entry, file: WalFile, seq: number, offset: number, length: number): WalRecord {
    let bytes = this.#buf;
    let view = this.#view;
    let text = this.#text;
    let own = false;
    if (length > bytes.length) {
      if (length <= REUSED_MAX) {
        this.#grow(Math.min(REUSED_MAX, Math.max(length, bytes.length * 2)));
        bytes = this.#buf;
        view = this.#view;
        text = this.#text;
      } else {
        // A record this large is read into its own array, so a bytes value can be a view of it instead of a copy.
        bytes = new Uint8Array(length);
        view = new DataView(bytes.buffer);
        text = Buffer.from(bytes.buffer, 0, length);
        own = true;
      }
    }
    let into = this.#into;
    if (own) into = bytes;
    else if (into.length !== length || into.buffer !== bytes.buffer) this.#into = into = bytes.subarray(0, length);
    const got = file.read(into, offset);
    const hs = entry.index.headerSize;
    if (got < length) throw damage(entry, offset, seq, "the record runs past the end of the file");
    if (view.getUint32(0, true) !== crc32Range(bytes, 4, length - 4)) throw damage(entry, offset, seq, "checksum mismatch");
    const kind = bytes[12];
    const flags = bytes[13];
    const opLen = view.getUint16(14, true);
    const keyLen = view.getUint32(16, true);
    const valueLen = view.getUint32(20, true);
    if (getU64(view, 4) !== seq) throw damage(entry, offset, seq, `seq ${getU64(view, 4)} where ${seq} was expected`);
    if (hs + opLen + keyLen + valueLen !== length || (flags & ~KNOWN_FLAGS) !== 0) {
      throw damage(entry, offset, seq, "the record does not match the segment's index");
    }
    if (kind !== KIND_DATA) {
      if (kind !== KIND_COMMIT && kind !== KIND_CHECKPOINT) throw damage(entry, offset, seq, `unknown record kind ${kind}`);
      return { seqNum: seq, opType: kind === KIND_COMMIT ? COMMIT_OP : CHECKPOINT_OP, key: "", value: "" };
    }
    const opStart = hs;
    const keyStart = opStart + opLen;
    const valueStart = keyStart + keyLen;
    return {
      seqNum: seq,
      opType: opLen === 3 && bytes[opStart] === 0x50 && bytes[opStart + 1] === 0x55 && bytes[opStart + 2] === 0x54
        ? "PUT"
        : text.toString("utf8", opStart, keyStart),
      key: keyLen === 0 ? "" : text.toString("utf8", keyStart, valueStart),
      value: (flags & FLAG_BYTES) !== 0
        ? (own ? bytes.subarray(valueStart, length) : bytes.slice(valueStart, length))
        : valueLen === 0
        ? ""
        : text.toString("utf8", valueStart, length),
    };
  }

  #grow(size: number): void {
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
    this.#text = Buffer.from(this.#buf.buffer, 0, size);
    this.#into = this.#buf.subarray(0, 0);
  }

  /** Opens the segment of an entry the writer's hook created (it never touches the disk itself). */
  #open(entry: Entry): WalFile {
    const file = this.#fs.openRead(entry.segment.path);
    entry.file = file;
    return file;
  }

  /** A new entry for `segment`, its format version read from its header (an open descriptor kept). */
  #load(segment: SegmentInfo): Entry {
    const file = this.#fs.openRead(segment.path);
    try {
      const header = readSegmentHeader(file);
      if (!header.ok) {
        throw new WalCorruptionError({ file: segment.path, offset: 0, seq: segment.firstSeq, reason: `segment header: ${header.reason}` });
      }
      const index = new SegmentIndex(segment.firstSeq, recordHeaderSize(header.version), SEGMENT_HEADER_SIZE, 1024);
      return { segment, file, index, stop: null };
    } catch (e) {
      file.close();
      throw e;
    }
  }

  #activeEntry(segment: SegmentInfo): Entry {
    const active = this.#active;
    if (active !== null && active.segment.name === segment.name) return active;
    // A rotation the writer's hook did not see (a read-only handle's refresh): the old active one is sealed now.
    if (active !== null) this.#seal(active);
    const entry = this.#takeSealed(segment.name) ?? this.#load(segment);
    this.#setActive(entry);
    return entry;
  }

  #sealedEntry(segment: SegmentInfo): Entry {
    const active = this.#active;
    if (active !== null && active.segment.name === segment.name) {
      this.#setActive(null);
      this.#seal(active);
      return active;
    }
    const list = this.#sealed;
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i];
      if (entry.segment.name !== segment.name) continue;
      if (i !== list.length - 1) {
        list.splice(i, 1);
        list.push(entry);
      }
      return entry;
    }
    const entry = this.#load(segment);
    this.#seal(entry);
    return entry;
  }

  #takeSealed(name: string): Entry | undefined {
    const i = this.#sealed.findIndex((e) => e.segment.name === name);
    return i < 0 ? undefined : this.#sealed.splice(i, 1)[0];
  }

  /** Puts `entry` in the sealed cache as the most recently used, closing the least recently used beyond the bound. */
  #seal(entry: Entry): void {
    entry.index.compact();
    this.#sealed.push(entry);
    while (this.#sealed.length > SEALED_CACHED) close(this.#sealed.shift() as Entry);
  }

  #setActive(entry: Entry | null): void {
    this.#active = entry;
    // An index that stopped at damage cannot follow the writer: it is dropped at the next write.
    const tracking = entry !== null && entry.stop === null;
    if (this.#slot !== null) this.#slot.onWrite = tracking ? this.#hook : null;
  }

  /**
   * The writer's hook: `bytes[from..to)` (whole records) were just written at offset `at` of `segment`, the
   * active one. Keeps the active index current; a write at the start of a segment the index does not know (a
   * rotation) seals the old index and starts a new one. Never throws (a read index must not fail a write): when
   * the records do not continue the index, the index is dropped and the next read builds it again from the file.
   */
  written(segment: SegmentInfo, bytes: Uint8Array, from: number, to: number, at: number): void {
    const active = this.#active;
    if (active === null) return;
    try {
      let entry = active;
      if (active.segment.name !== segment.name) {
        this.#seal(active);
        entry = { segment, file: null, index: new SegmentIndex(segment.firstSeq, recordHeaderSize(2)), stop: null };
        this.#setActive(entry);
        if (at !== SEGMENT_HEADER_SIZE) throw new Error("not the start of a segment");
      }
      if (entry.stop !== null || !addWritten(entry.index, bytes, from, to, at)) throw new Error("not a continuation");
    } catch {
      const dropped = this.#active;
      this.#setActive(null);
      if (dropped !== null) close(dropped);
    }
  }

  /**
   * Forgets the indexes of segments not in `segments` and closes their descriptors (after a truncate).
   * `newestEmpty`: the newest segment holds only its header (a cut created it): when an index of the active segment
   * was kept, the writer's writes to the new one are indexed from the first, as after a rotation.
   */
  retain(segments: readonly SegmentInfo[], newestEmpty = false): void {
    const names = new Set(segments.map((s) => s.name));
    const newestSegment = segments[segments.length - 1];
    const newest = newestSegment?.name;
    const active = this.#active;
    if (active !== null && (active.segment.name !== newest)) {
      this.#setActive(null);
      if (names.has(active.segment.name)) this.#seal(active);
      else close(active);
      if (newestEmpty && newestSegment !== undefined) {
        const index = new SegmentIndex(newestSegment.firstSeq, recordHeaderSize(FORMAT_VERSION));
        this.#setActive({ segment: newestSegment, file: null, index, stop: null });
      }
    }
    this.#sealed = this.#sealed.filter((e) => {
      if (names.has(e.segment.name) && e.segment.name !== newest) return true;
      close(e);
      return false;
    });
  }

  /**
   * Forgets every record with seq > `seq` (for a cut of the log's tail): indexes of segments that start after it
   * are dropped with their descriptors, the others are cut back. A segment file replaced under the same name
   * needs {@link reset} instead (the descriptor would still read the old file).
   */
  dropAfter(seq: number): void {
    const active = this.#active;
    if (active !== null) {
      if (active.segment.firstSeq > seq) {
        this.#setActive(null);
        close(active);
      } else {
        active.index.dropAfter(seq);
        active.stop = null;
      }
    }
    this.#sealed = this.#sealed.filter((e) => {
      if (e.segment.firstSeq > seq) {
        close(e);
        return false;
      }
      e.index.dropAfter(seq);
      e.stop = null;
      return true;
    });
  }

  /** Forgets every index and closes every descriptor (close, supersede, or a change this cache cannot follow). */
  reset(): void {
    const active = this.#active;
    this.#setActive(null);
    if (active !== null) close(active);
    for (const e of this.#sealed) close(e);
    this.#sealed = [];
  }
}

/** Index of the segment holding `seq`: the last one whose first seq is at most `seq`. */
function segmentOf(segments: readonly SegmentInfo[], seq: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (segments[mid].firstSeq <= seq) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function damage(entry: Entry, offset: number, seq: number, reason: string): WalCorruptionError {
  return new WalCorruptionError({ file: entry.segment.path, offset, seq, reason });
}

function close(entry: Entry): void {
  const file = entry.file;
  entry.file = null;
  try {
    file?.close();
  } catch {
    // A read descriptor: nothing was written through it, and the entry is gone either way.
  }
}
