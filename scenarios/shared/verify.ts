/**
 * Invariant checks shared by the scenarios. Each returns null when the invariant holds and a one-line reason
 * when it does not, so a scenario can hand it straight to `Checker.check`.
 *
 * The segment parser here reads the files by the layout documented in `src/format.ts` without using the
 * library's reader: a scenario that checked the files with the code under test would prove little.
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";

/** A record as replay returns it (structurally the library's `WalRecord`). */
export interface PlainRecord {
  seqNum: number;
  opType: string;
  key: string;
  value: string | Uint8Array;
}

/** The 32-byte segment header size of format versions 1 and 2. */
export const SEGMENT_HEADER_BYTES = 32;
/** The 32-byte record header size of format version 2, the one the library writes. */
export const RECORD_HEADER_BYTES = 32;
/** The 24-byte record header size of format version 1 (still read). */
export const RECORD_HEADER_BYTES_V1 = 24;
/** Record kinds of format versions 1 and 2. */
export const KIND = { data: 1, commit: 2, checkpoint: 3 } as const;
/** Record flag bits of format versions 1 and 2. */
export const FLAG = { bytes: 1, batch: 2 } as const;

/** One record as found in a segment file. */
export interface RawRecord {
  seq: number;
  kind: number;
  flags: number;
  /** File offset of the record's first byte. */
  offset: number;
  /** Header plus payload, in bytes. */
  length: number;
}

/** A segment file as parsed by {@link parseSegment}. */
export interface ParsedSegment {
  name: string;
  size: number;
  /** First seq according to the header. */
  firstSeq: number;
  records: RawRecord[];
  /** Offset where parsing stopped: the file size for a well-formed segment. */
  end: number;
}

const SEGMENT_NAME = /^\d{20}\.wal$/;

/** The segment file names of a log directory, in seq order. */
export function segmentNames(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => SEGMENT_NAME.test(n)).sort();
}

/** The first seq a segment file name carries. */
export function nameSeq(name: string): number {
  return Number(name.slice(0, 20));
}

/** The quarantine files recovery left in a log directory. */
export function quarantineNames(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith("quarantine-")).sort();
}

/**
 * Parses one segment file record by record (lengths, seqs, kinds; no checksums): enough to see where units
 * and segments begin and end. Stops at the first record that does not fit.
 */
export function parseSegment(file: string): ParsedSegment {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const name = path.basename(file);
  const out: ParsedSegment = { name, size: bytes.length, firstSeq: -1, records: [], end: 0 };
  if (bytes.length < SEGMENT_HEADER_BYTES) return out;
  out.firstSeq = u64(view, 12);
  // Bytes 8..9: the format version, which sets the record header size; the fields below are at the same offsets.
  const headerBytes = view.getUint16(8, true) === 1 ? RECORD_HEADER_BYTES_V1 : RECORD_HEADER_BYTES;
  let at = SEGMENT_HEADER_BYTES;
  let expected = out.firstSeq;
  while (at + headerBytes <= bytes.length) {
    const seq = u64(view, at + 4);
    const length = headerBytes + view.getUint16(at + 14, true) + view.getUint32(at + 16, true) +
      view.getUint32(at + 20, true);
    if (seq !== expected || at + length > bytes.length) break;
    out.records.push({ seq, kind: bytes[at + 12], flags: bytes[at + 13], offset: at, length });
    at += length;
    expected++;
  }
  out.end = at;
  return out;
}

function u64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x1_0000_0000;
}

/** Every file of a directory (not subdirectories) with its bytes. */
export type Snapshot = Map<string, Uint8Array>;

/** Reads every file of `dir`, to compare the directory before and after something that must not touch it. */
export function snapshot(dir: string): Snapshot {
  const out: Snapshot = new Map();
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isFile()) out.set(name, new Uint8Array(fs.readFileSync(p)));
  }
  return out;
}

/** Null when two snapshots hold the same names with the same bytes; else the first difference. */
export function diffSnapshots(
  before: Snapshot,
  after: Snapshot,
  ignore: (name: string) => boolean = () => false,
): string | null {
  const names = new Set([...before.keys(), ...after.keys()]);
  for (const name of [...names].sort()) {
    if (ignore(name)) continue;
    const a = before.get(name);
    const b = after.get(name);
    if (a === undefined) return `${name} appeared`;
    if (b === undefined) return `${name} disappeared`;
    if (!sameBytes(a, b)) return `${name} changed (${a.length} -> ${b.length} bytes)`;
  }
  return null;
}

/** True if two byte arrays are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True if two record values are equal: same type (string or bytes) and same contents. */
export function sameValue(a: string | Uint8Array, b: string | Uint8Array): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return sameBytes(a, b);
}

function show(r: PlainRecord): string {
  const v = typeof r.value === "string"
    ? (r.value.length > 20 ? `"${r.value.slice(0, 20)}..." (${r.value.length} chars)` : `"${r.value}"`)
    : `bytes(${r.value.length})`;
  return `#${r.seqNum} ${r.opType} "${r.key}" ${v}`;
}

/** Null when `actual` equals `expected` record for record (seq, opType, key, value and its type). */
export function compareRecords(actual: readonly PlainRecord[], expected: readonly PlainRecord[]): string | null {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a.seqNum !== e.seqNum || a.opType !== e.opType || a.key !== e.key || !sameValue(a.value, e.value)) {
      return `record ${i}: got ${show(a)}, expected ${show(e)}`;
    }
  }
  if (actual.length !== expected.length) {
    const extra = actual.length > expected.length
      ? `first extra ${show(actual[n])}`
      : `first missing ${show(expected[n])}`;
    return `${actual.length} records, expected ${expected.length} (${extra})`;
  }
  return null;
}

/** Null when the seqs strictly increase (replay skips COMMIT and CHECKPOINT seqs, so gaps are allowed). */
export function increasingSeqs(records: readonly { seqNum: number }[]): string | null {
  for (let i = 1; i < records.length; i++) {
    if (records[i].seqNum <= records[i - 1].seqNum) return `seq ${records[i].seqNum} after ${records[i - 1].seqNum}`;
  }
  return null;
}

/** Null when the seqs are exactly from, from+1, ... with no gap (what `iterate()` must yield). */
export function contiguousSeqs(records: readonly { seqNum: number }[], from = 1): string | null {
  for (let i = 0; i < records.length; i++) {
    if (records[i].seqNum !== from + i) return `position ${i} has seq ${records[i].seqNum}, expected ${from + i}`;
  }
  return null;
}

/** Collects an async iterable into an array. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Runs `fn` expecting it to reject; returns the error, or a failure reason string when it resolves. */
export async function rejection(fn: () => Promise<unknown>): Promise<{ error: unknown } | { resolved: unknown }> {
  try {
    return { resolved: await fn() };
  } catch (error) {
    return { error };
  }
}

/** The first failing reason of several checks, or null when all hold. */
export function firstProblem(...reasons: (string | null)[]): string | null {
  for (const r of reasons) if (r !== null) return r;
  return null;
}
