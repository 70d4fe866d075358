/**
 * What `open` does before it acknowledges anything: find the valid end of the log and make the files agree
 * with it, keeping a copy of every byte it cuts.
 *
 * Two kinds of damage:
 * - a torn tail: the newest segment ends in a record that is incomplete, fails its checksum, is zero-filled, or
 *   is a batch member without its COMMIT, and no valid record follows it. Any crash mid-write leaves this.
 *   It is cut (after a quarantine copy) in every mode.
 * - damage a crash cannot explain: a bad record followed by a valid one, a bad segment header, a segment that
 *   does not start where the previous one ended (missing segment, gap, repeat), damage in an older segment.
 *   `recovery: "repair"` keeps the longest valid gapless prefix and moves everything after it to quarantine;
 *   `recovery: "strict"` throws WalCorruptionError and changes nothing.
 *
 * A newer format version, or a directory holding files the log did not make, is refused in every mode.
 *
 * @module
 */

import { WalCorruptionError, WalFormatError } from "./errors.ts";
import { FORMAT_VERSION, parseSegmentName, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE } from "./format.ts";
import type { WalFile, WalFileSystem } from "./io/types.ts";
import { ReadBuffer, SegmentScanner } from "./reader.ts";
import { copyRange, createSegment, listSegments, readSegmentHeader, TEMP_SUFFIX } from "./segment.ts";
import type { SegmentInfo } from "./segment.ts";
import { LOCK_FILE } from "./lock.ts";
import { finishPendingTruncate, TRUNCATE_FILE } from "./truncate.ts";

/** One thing recovery did to the files. */
export interface RecoveryAction {
  /** What was done. */
  action: "cut-tail" | "cut-zeros" | "cut-damage" | "quarantined-segment" | "removed-temp-file" | "finished-truncate";
  /** The file it was done to (full path). */
  file: string;
  /** Offset in `file` from which bytes were cut (0 for whole files). */
  offset: number;
  /** How many bytes left the log. */
  bytes: number;
  /**
   * Valid records that left the log: batch members without their COMMIT, the run of valid records found after
   * damage, or a quarantined segment's records. A lower bound where damage hides record boundaries.
   */
  recordsDropped: number;
  /** Why. */
  reason: string;
  /** Where the bytes went (full path), when they were kept. */
  quarantineFile?: string;
}

/** What `open` found and did; available as `wal.recovery`. */
export interface RecoveryReport {
  /** True when the log needed nothing: no action was taken. */
  clean: boolean;
  /** Every action, in the order taken. */
  actions: RecoveryAction[];
  /** Segments whose records were checked on open. */
  segmentsVerified: number;
  /** Bytes read to verify them. */
  bytesVerified: number;
}

/** The state of the log after recovery. */
export interface RecoveredLog {
  segments: SegmentInfo[];
  nextSeq: number;
  /** Where the last record of the newest segment ends. */
  activeEnd: number;
  report: RecoveryReport;
}

interface Damage {
  index: number;
  /** Offset the segment is cut back to; 0 means the whole file leaves the log. */
  cut: number;
  location: { offset: number; seq: number; reason: string };
  /** True for a torn tail (repaired in every mode). */
  tail: boolean;
  droppedMembers: number;
}

interface ScanResult {
  lastSeq: number;
  size: number;
  damage: Omit<Damage, "index" | "tail"> | null;
  /** Where the last complete unit ends: the segment's valid end (preallocated zeros may follow). */
  end: number;
  /** Bytes of zeros after `end` (the writer's preallocated space, or writes that never reached the disk). */
  zeros: number;
  /** Valid records found after the damage (0 for a torn tail). */
  validAfter: number;
}

/** Opens the log in `dir`, verifying and repairing as the options say. */
export function recoverLog(
  fs: WalFileSystem,
  dir: string,
  options: { verify: "full" | "tail"; recovery: "repair" | "strict" },
): RecoveredLog {
  const report: RecoveryReport = { clean: true, actions: [], segmentsVerified: 0, bytesVerified: 0 };
  fs.mkdirp(dir);
  refuseForeignFiles(fs, dir);
  for (const name of fs.list(dir)) {
    if (!name.endsWith(TEMP_SUFFIX)) continue;
    const path = fs.join(dir, name);
    fs.remove(path);
    report.actions.push({
      action: "removed-temp-file",
      file: path,
      offset: 0,
      bytes: 0,
      recordsDropped: 0,
      reason: "left by an interrupted rotation or truncate",
    });
  }
  const finished = finishPendingTruncate(fs, dir);
  if (finished !== null) {
    report.actions.push({
      action: "finished-truncate",
      file: fs.join(dir, TRUNCATE_FILE),
      offset: 0,
      bytes: 0,
      recordsDropped: 0,
      reason: `a truncate up to seq ${finished} was interrupted; it was completed`,
    });
  }

  let segments = listSegments(fs, dir);
  if (segments.length === 0) {
    report.clean = report.actions.length === 0;
    return { segments: [createSegment(fs, dir, 1)], nextSeq: 1, activeEnd: SEGMENT_HEADER_SIZE, report };
  }
  refuseNewerVersions(fs, segments);

  const last = segments.length - 1;
  // One read chunk for the whole open, as large as the largest segment read, at most 4 MiB.
  const chunk = new ReadBuffer(4096);
  let damage: Damage | null = null;
  let lastSeq: number | null = segments[0].firstSeq - 1;
  let lastEnd = SEGMENT_HEADER_SIZE;
  const zeroTails: { index: number; end: number; zeros: number }[] = [];
  for (let i = 0; i <= last && damage === null; i++) {
    const seg = segments[i];
    const scanFully = options.verify === "full" || i === last;
    const file = fs.openRead(seg.path);
    try {
      const headerProblem = checkHeader(file, seg);
      if (headerProblem !== null) {
        damage = {
          index: i,
          cut: 0,
          location: { offset: 0, seq: lastSeq === null ? seg.firstSeq : lastSeq + 1, reason: headerProblem },
          tail: false,
          droppedMembers: 0,
        };
        break;
      }
      if (lastSeq !== null && i > 0 && seg.firstSeq !== lastSeq + 1) {
        const what = seg.firstSeq > lastSeq + 1 ? "a gap (missing segment or records)" : "seqs repeated";
        damage = {
          index: i,
          cut: 0,
          location: { offset: 0, seq: lastSeq + 1, reason: `segment starts at seq ${seg.firstSeq}: ${what}` },
          tail: false,
          droppedMembers: 0,
        };
        break;
      }
      if (!scanFully) {
        lastSeq = null;
        continue;
      }
      const result = scan(file, seg.firstSeq, chunk);
      report.segmentsVerified++;
      report.bytesVerified += result.size;
      lastSeq = result.lastSeq;
      lastEnd = result.end;
      if (result.zeros > 0) zeroTails.push({ index: i, end: result.end, zeros: result.zeros });
      if (result.damage !== null) {
        damage = { index: i, ...result.damage, tail: i === last && result.validAfter === 0 };
      }
    } finally {
      file.close();
    }
  }

  const originalFirstSeq = segments[0].firstSeq;
  if (damage !== null && options.recovery === "strict" && !damage.tail) {
    throw new WalCorruptionError({ file: segments[damage.index].path, ...damage.location });
  }
  if (damage !== null) applyRepair(fs, dir, segments, damage, report);
  for (const z of zeroTails) cutZeros(fs, segments[z.index], z.end, z.zeros, report);
  const keep = damage === null ? segments.length : damage.cut === 0 ? damage.index : damage.index + 1;
  segments = segments.slice(0, keep);
  // Tail-only verification that lost its newest segment: the new newest one must be read to know its end.
  if (lastSeq === null && keep > 0) {
    const seg = segments[keep - 1];
    const file = fs.openRead(seg.path);
    let result: ScanResult;
    try {
      result = scan(file, seg.firstSeq, chunk);
    } finally {
      file.close();
    }
    lastSeq = result.lastSeq;
    lastEnd = result.end;
    if (result.damage !== null) {
      applyRepair(fs, dir, segments, { index: keep - 1, ...result.damage, tail: true }, report);
    }
    if (result.zeros > 0) cutZeros(fs, seg, result.end, result.zeros, report);
  }
  let nextSeq: number;
  if (keep === 0) {
    // Nothing valid is left; numbering resumes where the log's first segment said it started.
    nextSeq = originalFirstSeq;
    segments = [createSegment(fs, dir, nextSeq)];
    lastEnd = SEGMENT_HEADER_SIZE;
  } else {
    nextSeq = (lastSeq ?? segments[keep - 1].firstSeq - 1) + 1;
  }
  report.clean = report.actions.length === 0;
  return { segments, nextSeq, activeEnd: lastEnd, report };
}

/** Whether a directory entry is one the log may own or an OS leaves behind. */
function isLogFile(name: string): boolean {
  return name === LOCK_FILE || name === TRUNCATE_FILE || name.endsWith(TEMP_SUFFIX) ||
    (name.startsWith("quarantine-") && name.endsWith(".bin")) || name.startsWith(".") || name === "lost+found";
}

/**
 * Refuses a directory that is not a log: a `.wal` file not named like a segment, or any file the log would not
 * have made. A file named like a segment whose bytes are not a segment's is damage instead (repair moves it to
 * quarantine; nothing is ever deleted).
 */
function refuseForeignFiles(fs: WalFileSystem, dir: string): void {
  for (const name of fs.list(dir)) {
    if (parseSegmentName(name) !== null || isLogFile(name)) continue;
    if (name.endsWith(".wal")) {
      throw new WalFormatError(fs.join(dir, name), "a .wal file that is not named like a segment (20 digits + .wal)");
    }
    throw new WalFormatError(dir, `not a log directory: it holds "${name}", which is none of the log's files`);
  }
}

/** Refuses a segment of a newer format version, in every mode: repairing it would destroy a newer writer's log. */
function refuseNewerVersions(fs: WalFileSystem, segments: SegmentInfo[]): void {
  for (const seg of segments) {
    const file = fs.openRead(seg.path);
    try {
      const header = readSegmentHeader(file);
      if (!header.ok && header.reason === "newer-version") {
        throw new WalFormatError(
          seg.path,
          `format version ${header.version} is newer than ${FORMAT_VERSION}, the newest this library reads`,
        );
      }
    } finally {
      file.close();
    }
  }
}

/** Why a segment's header cannot be used, or null if it can. */
function checkHeader(file: WalFile, seg: SegmentInfo): string | null {
  const header = readSegmentHeader(file);
  if (!header.ok) return `segment header unusable (${header.reason})`;
  if (header.firstSeq !== seg.firstSeq) {
    return `segment header says first seq ${header.firstSeq} but the file name says ${seg.firstSeq}`;
  }
  return null;
}

/** Reads every record of a segment; says where the valid part ends and whether damage has valid records after it. */
function scan(file: WalFile, firstSeq: number, chunk: ReadBuffer): ScanResult {
  const size = file.size();
  const want = Math.min(4 * 1024 * 1024, size);
  if (chunk.bytes.length < want) chunk.grow(want, 0, 0);
  const scanner = new SegmentScanner(file, firstSeq, size, undefined, chunk);
  scanner.verifyToEnd();
  const stop = scanner.stop;
  const validAfter = stop === null ? 0 : validRecordsAfter(file, stop.offset, stop.seq, size);
  const zeros = scanner.zerosFrom < 0 ? 0 : size - scanner.zerosFrom;
  if (stop === null) return { lastSeq: scanner.unitSeq, end: scanner.unitEnd, zeros, size, damage: null, validAfter: 0 };
  return {
    lastSeq: scanner.unitSeq,
    end: scanner.unitEnd,
    zeros,
    size,
    damage: { cut: scanner.unitEnd, location: stop, droppedMembers: scanner.pendingMembers + validAfter },
    validAfter,
  };
}

/** How far past the expected seq a resynchronizing search accepts a record as the log's own. */
const RESYNC_SEQ_WINDOW = 1_000_000;

/**
 * Counts the valid records that follow damage at `offset`: searches byte by byte for a record with a later seq
 * whose checksum holds, then counts the run of valid records from there. A count above zero is the mark of
 * damage no crash leaves (a crash only tears the end of the last write); zero means a torn tail.
 */
function validRecordsAfter(file: WalFile, offset: number, seq: number, size: number): number {
  const chunk = new Uint8Array(Math.min(4 * 1024 * 1024, Math.max(RECORD_HEADER_SIZE, size - offset)));
  const view = new DataView(chunk.buffer);
  for (let base = offset + 1; base + RECORD_HEADER_SIZE <= size;) {
    const n = file.read(chunk, base);
    if (n < RECORD_HEADER_SIZE) break;
    for (let i = 0; i + RECORD_HEADER_SIZE <= n; i++) {
      // Cheap filter first: a plausible seq; the checksum decides.
      const candidate = view.getUint32(i + 4, true) + view.getUint32(i + 8, true) * 0x1_0000_0000;
      if (candidate <= seq || candidate > seq + RESYNC_SEQ_WINDOW) continue;
      const probe = new SegmentScanner(file, candidate, size, base + i);
      let count = 0;
      while (probe.next()) count++;
      if (count > 0) return count;
    }
    base += n - RECORD_HEADER_SIZE + 1;
  }
  return 0;
}

/** Copies bytes [from, end of file) of `source` into a new quarantine file; returns its path. */
function quarantineCopy(fs: WalFileSystem, dir: string, source: WalFile, name: string, from: number, size: number): string {
  const path = fs.join(dir, quarantineName(name, from));
  const out = fs.openWrite(path, { create: true, exclusive: true });
  try {
    copyRange(source, out, from, size);
    out.datasync();
  } finally {
    out.close();
  }
  fs.syncDir(dir);
  return path;
}

let quarantineCounter = 0;

function quarantineName(segmentFile: string, offset: number): string {
  const stamp = new Date().toISOString().replace(/[-:.]/g, "").replace("T", "-").replace("Z", "");
  return `quarantine-${stamp}-${++quarantineCounter}-${segmentFile.replace(/\.wal$/, "")}-at-${offset}.bin`;
}

/** Moves a whole segment out of the log (a rename: nothing is deleted). */
function quarantineSegment(fs: WalFileSystem, dir: string, seg: SegmentInfo, report: RecoveryReport, reason: string): void {
  let size = 0;
  let records = 0;
  const file = fs.openRead(seg.path);
  try {
    size = file.size();
    const scanner = new SegmentScanner(file, seg.firstSeq, size);
    while (scanner.next()) records++;
  } finally {
    file.close();
  }
  const path = fs.join(dir, quarantineName(seg.name, 0));
  fs.rename(seg.path, path);
  report.actions.push({ action: "quarantined-segment", file: seg.path, offset: 0, bytes: size, recordsDropped: records, reason, quarantineFile: path });
}

/**
 * Cuts the zeros after a segment's last record: what a crash leaves of the writer's preallocated space (or of
 * writes that never reached the disk). No copy is kept: the report's offset and length describe them wholly.
 */
function cutZeros(fs: WalFileSystem, seg: SegmentInfo, end: number, zeros: number, report: RecoveryReport): void {
  const file = fs.openWrite(seg.path, { create: false });
  try {
    file.truncate(end);
    file.datasync();
  } finally {
    file.close();
  }
  report.actions.push({
    action: "cut-zeros",
    file: seg.path,
    offset: end,
    bytes: zeros,
    recordsDropped: 0,
    reason: "zeros after the last record: the writer's preallocated space, or writes that never reached the disk",
  });
}

function applyRepair(fs: WalFileSystem, dir: string, segments: SegmentInfo[], damage: Damage, report: RecoveryReport): void {
  const seg = segments[damage.index];
  const why = `${damage.location.reason} at offset ${damage.location.offset} (expected seq ${damage.location.seq})`;
  if (damage.cut === 0) {
    quarantineSegment(fs, dir, seg, report, why);
  } else {
    const file = fs.openWrite(seg.path, { create: false });
    const reader = fs.openRead(seg.path);
    try {
      const size = reader.size();
      if (size > damage.cut) {
        const copy = quarantineCopy(fs, dir, reader, seg.name, damage.cut, size);
        file.truncate(damage.cut);
        file.datasync();
        report.actions.push({
          action: damage.tail ? "cut-tail" : "cut-damage",
          file: seg.path,
          offset: damage.cut,
          bytes: size - damage.cut,
          recordsDropped: damage.droppedMembers,
          reason: why,
          quarantineFile: copy,
        });
      }
    } finally {
      reader.close();
      file.close();
    }
  }
  for (let j = damage.index + 1; j < segments.length; j++) {
    quarantineSegment(fs, dir, segments[j], report, `follows damage in ${seg.name}: ${why}`);
  }
  fs.syncDir(dir);
}
