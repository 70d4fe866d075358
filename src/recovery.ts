/**
 * What `open` does before it acknowledges anything: find the valid end of the log and make the files agree
 * with it, keeping a copy of every byte it cuts.
 *
 * Two kinds of damage:
 * - a torn tail: what a crash can leave in the newest segment. A crash (power cut, kernel crash) may lose any
 *   part of what was written after the last fdatasync, page by page in any order, and nothing before it. So a
 *   stop at the record of seq s in the newest segment is a torn tail unless the log proves seq s was durable:
 *   in a version-2 segment, a later record with a valid header whose `syncedBack` covers s (format.ts); in a
 *   version-1 segment (no such field), any valid record after the stop. A torn tail is cut (after a
 *   quarantine copy) in every mode.
 * - damage a crash cannot explain: a stop the log proves was durable, a bad segment header, a segment that
 *   does not start where the previous one ended (missing segment, gap, repeat), damage in an older segment.
 *   `recovery: "repair"` keeps the longest valid gapless prefix (it cuts at the first bad record) and moves
 *   everything after it to quarantine; `recovery: "strict"` throws WalCorruptionError and changes nothing.
 *
 * Finding out what follows a stop costs at most one read of the bytes after it: a version-2 header that checks
 * out gives the record's length, so the search steps over payloads; only after a header that does not check
 * out does it look byte by byte for the next one, with cheap filters before a 28-byte checksum.
 *
 * Every record's checksum is checked, but not with one call per record: the records of a read chunk are checked
 * together, by one CRC-32 over the chunk with each record's checksum field replaced by the bytes that restart
 * the running CRC-32 at the next record (`CRC_CHAIN_RESET` in format.ts, the loop in WebAssembly: walk.wat). The
 * result equals the last record's checksum exactly when every record's checksum matches its own bytes, with the
 * same 1-in-2^32 chance of missing damage as a per-record check; a chunk that fails is checked again record by
 * record to find the first bad one. A fresh process opens a 200,000-record log about 3x faster this way.
 *
 * The writer appends only to version-2 segments: when the newest segment is version 1, open makes it durable
 * and starts a version-2 segment after it (replacing it when it holds no record).
 *
 * A newer format version, or a directory holding files the log did not make, is refused in every mode.
 *
 * @module
 */

import { WalCorruptionError, WalFormatError } from "./errors.ts";
import {
  crc32Small,
  encodeSegmentHeader,
  FORMAT_VERSION,
  getU64,
  HEADER_CRC_SPAN,
  KNOWN_FLAGS,
  MAX_OP_TYPE_BYTES,
  MAX_PAYLOAD_BYTES,
  parseSealName,
  parseSegmentName,
  RECORD_HEADER_SIZE,
  RECORD_HEADER_SIZE_V1,
  SEGMENT_HEADER_SIZE,
} from "./format.ts";
import type { WalFile, WalFileSystem } from "./io/types.ts";
import { ReadBuffer, SegmentScanner, withScanChunk } from "./reader.ts";
import { hasSeal, matchesSeal, pruneSeals, readSeal, removeSeal } from "./seal.ts";
import { crc32 } from "./crc32.ts";
import { errorCode } from "./io/types.ts";
import {
  copyRange,
  createSegment,
  listSegments,
  readSegmentHeader,
  segmentGeneration,
  TEMP_SUFFIX,
  writeFileDurably,
} from "./segment.ts";
import type { SegmentInfo } from "./segment.ts";
import { LOCK_FILE } from "./lock.ts";
import { WALK_CHUNK_BYTES } from "./walk.ts";
import { finishPendingTruncate, TRUNCATE_FILE } from "./truncate.ts";
import { finishPendingTruncateAfter } from "./truncate_after.ts";

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

/** Damage a scan found: where, why, and what open cuts for it. */
export interface Damage {
  /** Index of the segment in the list scanned. */
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
  /** Where the last record of the last complete unit starts (-1 if none). */
  start: number;
  size: number;
  damage: Omit<Damage, "index" | "tail"> | null;
  /** Where the last complete unit ends: the segment's valid end (preallocated zeros may follow). */
  end: number;
  /** Bytes of zeros after `end` (the writer's preallocated space, or writes that never reached the disk). */
  zeros: number;
  /** Valid records found after the damage. */
  validAfter: number;
  /** True when the log proves the damaged place was durable: no crash can explain it. */
  proven: boolean;
}

/** Opens the log in `dir`, verifying and repairing as the options say. */
export function recoverLog(
  fs: WalFileSystem,
  dir: string,
  options: { verify: "full" | "tail"; recovery: "repair" | "strict" },
): RecoveredLog {
  const report: RecoveryReport = { clean: true, actions: [], segmentsVerified: 0, bytesVerified: 0 };
  fs.mkdirp(dir);
  checkLogDirectory(fs, dir);
  for (const name of fs.list(dir)) {
    if (!isOwnTempName(name)) continue;
    const path = fs.join(dir, name);
    try {
      fs.remove(path);
    } catch (e) {
      if (isDirectoryError(e)) throw new WalFormatError(path, "it is a directory, not a file");
      throw e;
    }
    report.actions.push({
      action: "removed-temp-file",
      file: path,
      offset: 0,
      bytes: 0,
      recordsDropped: 0,
      reason: "left by an interrupted rotation or truncate",
    });
  }
  // First: a cut of the tail shares the TRUNCATE file name, and finishPendingTruncate removes a file it cannot read.
  const cut = finishPendingTruncateAfter(fs, dir);
  if (cut !== null) {
    report.actions.push({
      action: "finished-truncate",
      file: fs.join(dir, TRUNCATE_FILE),
      offset: 0,
      bytes: 0,
      recordsDropped: 0,
      reason: `a cut of the log after seq ${cut} (truncateAfter) was interrupted; it was completed`,
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
    segments = [createSegment(fs, dir, 1)];
    pruneSeals(fs, dir, segments);
    return { segments, nextSeq: 1, activeEnd: SEGMENT_HEADER_SIZE, report };
  }
  refuseNewerVersions(fs, segments);

  // One fallback read chunk for the whole open; each scan uses the WebAssembly walker's memory instead when it can.
  const chunk = new ReadBuffer(4096);
  const found = scanLog(fs, segments, options.verify, chunk);
  report.segmentsVerified = found.segmentsVerified;
  report.bytesVerified = found.bytesVerified;
  const damage = found.damage;
  const zeroTails = found.zeroTails;
  let lastSeq = found.lastSeq;
  let lastEnd = found.lastEnd;
  let lastVersion = found.lastVersion;

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
      const header = checkHeader(file, seg);
      lastVersion = typeof header === "string" ? FORMAT_VERSION : header;
      result = scan(file, seg.firstSeq, chunk, lastVersion);
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
    if (lastVersion !== FORMAT_VERSION) {
      lastEnd = startCurrentVersion(fs, dir, segments, nextSeq, lastEnd);
    }
  }
  for (const seg of found.staleSeals) removeSeal(fs, seg);
  pruneSeals(fs, dir, segments);
  report.clean = report.actions.length === 0;
  return { segments, nextSeq, activeEnd: lastEnd, report };
}

/** Where a scan of the whole log stopped, and what it found on the way. */
export interface LogScan {
  /** The first damage found (none is looked for after it), or null. */
  damage: Damage | null;
  /** Seq of the last record of the last complete unit read; null when `verify: "tail"` skipped the newest read. */
  lastSeq: number | null;
  /** Where the last complete unit of the last segment read ends. */
  lastEnd: number;
  /**
   * Where that unit's last record starts: -1 if the segment holds none, or if its seal vouched for it (only when
   * damage after it stopped the scan there; such a segment is read again to its end by whoever needs this).
   */
  lastStart: number;
  /** Format version of the last segment whose header was read. */
  lastVersion: number;
  /** Segments that end in zeros after their last complete unit. */
  zeroTails: { index: number; end: number; zeros: number }[];
  /** Segments whose records were read. */
  segmentsVerified: number;
  /** Bytes read to verify them. */
  bytesVerified: number;
  /** Segments with a seal that does not vouch for them (stale, torn, or the segment was damaged since). */
  staleSeals: SegmentInfo[];
}

/**
 * Reads the log's segments (every record, or with `verify: "tail"` only the newest segment's) up to the first
 * damage, and says where the valid log ends. Reads only: `open` repairs from its result, `openReadOnly`
 * reports it. `onSegment` is told the size of each segment read, as it is done. A segment before the newest whose
 * seal vouches for it is checked with one CRC-32 over the file, unless `useSeals` is false.
 */
export function scanLog(
  fs: WalFileSystem,
  segments: readonly SegmentInfo[],
  verify: "full" | "tail",
  chunk: ReadBuffer,
  onSegment?: (bytes: number) => void,
  useSeals = true,
): LogScan {
  const last = segments.length - 1;
  let damage: Damage | null = null;
  let lastSeq: number | null = segments[0].firstSeq - 1;
  let lastEnd = SEGMENT_HEADER_SIZE;
  let lastStart = -1;
  let lastVersion = FORMAT_VERSION;
  let segmentsVerified = 0;
  let bytesVerified = 0;
  const zeroTails: { index: number; end: number; zeros: number }[] = [];
  const staleSeals: SegmentInfo[] = [];
  for (let i = 0; i <= last && damage === null; i++) {
    const seg = segments[i];
    const scanFully = verify === "full" || i === last;
    const file = fs.openRead(seg.path);
    try {
      const header = checkHeader(file, seg);
      if (typeof header === "string") {
        damage = {
          index: i,
          cut: 0,
          location: { offset: 0, seq: lastSeq === null ? seg.firstSeq : lastSeq + 1, reason: header },
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
      lastVersion = header;
      if (!scanFully) {
        lastSeq = null;
        continue;
      }
      // A segment before the newest whose seal vouches for all its bytes needs no record-by-record check.
      const sealed = useSeals && i < last ? checkSealed(fs, seg, file, chunk, staleSeals) : null;
      const result = sealed ?? scan(file, seg.firstSeq, chunk, header);
      segmentsVerified++;
      bytesVerified += result.size;
      onSegment?.(result.size);
      lastSeq = result.lastSeq;
      lastEnd = result.end;
      lastStart = result.start;
      if (result.zeros > 0) zeroTails.push({ index: i, end: result.end, zeros: result.zeros });
      if (result.damage !== null) {
        damage = { index: i, ...result.damage, tail: i === last && !result.proven };
      }
    } finally {
      file.close();
    }
  }
  return { damage, lastSeq, lastEnd, lastStart, lastVersion, zeroTails, segmentsVerified, bytesVerified, staleSeals };
}

/**
 * The scan result of a segment whose seal checks out (see seal.ts), or null to check it record by record (a seal
 * that exists but does not check out is added to `stale`).
 */
function checkSealed(fs: WalFileSystem, seg: SegmentInfo, file: WalFile, chunk: ReadBuffer, stale: SegmentInfo[]): ScanResult | null {
  if (!hasSeal(fs, seg)) return null;
  const seal = readSeal(fs, seg);
  if (seal === null) {
    stale.push(seg);
    return null;
  }
  const intact = withScanChunk(chunk, Math.min(seal.size, WALK_CHUNK_BYTES), (c) => matchesSeal(file, seal, c.bytes));
  if (!intact) {
    stale.push(seg);
    return null;
  }
  // `start` is filled in by scanLog when it is needed.
  return { lastSeq: seal.lastSeq, start: -1, size: seal.size, damage: null, end: seal.size, zeros: 0, validAfter: 0, proven: false };
}


/**
 * What `open` with `recovery: "repair"` would do about what a scan found, without doing it: the actions it
 * would report (no quarantine file is named: none exists). Reads only (to count a quarantined segment's records).
 */
export function plannedRepair(fs: WalFileSystem, segments: readonly SegmentInfo[], found: LogScan): RecoveryAction[] {
  const actions: RecoveryAction[] = [];
  const damage = found.damage;
  if (damage !== null) {
    const seg = segments[damage.index];
    const why = `${damage.location.reason} at offset ${damage.location.offset} (expected seq ${damage.location.seq})`;
    if (damage.cut === 0) {
      actions.push(segmentAction(fs, seg, why));
    } else {
      const file = fs.openRead(seg.path);
      let size: number;
      try {
        size = file.size();
      } finally {
        file.close();
      }
      if (size > damage.cut) {
        actions.push(cutAction(seg, damage, size, why));
      }
    }
    for (let j = damage.index + 1; j < segments.length; j++) {
      actions.push(segmentAction(fs, segments[j], `follows damage in ${seg.name}: ${why}`));
    }
  }
  for (const z of found.zeroTails) {
    actions.push({
      action: "cut-zeros",
      file: segments[z.index].path,
      offset: z.end,
      bytes: z.zeros,
      recordsDropped: 0,
      reason: "zeros after the last record: the writer's preallocated space, or writes that never reached the disk",
    });
  }
  return actions;
}

/** The action that cuts a segment of `size` bytes back to where its damage (or torn tail) begins. */
function cutAction(seg: SegmentInfo, damage: Damage, size: number, why: string): RecoveryAction {
  return {
    action: damage.tail ? "cut-tail" : "cut-damage",
    file: seg.path,
    offset: damage.cut,
    bytes: size - damage.cut,
    recordsDropped: damage.droppedMembers,
    reason: why,
  };
}

/** The action that moves a whole segment out of the log, with its size and records counted. */
function segmentAction(fs: WalFileSystem, seg: SegmentInfo, reason: string): RecoveryAction {
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
  return { action: "quarantined-segment", file: seg.path, offset: 0, bytes: size, recordsDropped: records, reason };
}

/**
 * The newest segment is of an older version: the writer appends only the current one, so a new segment starts
 * at `nextSeq` (replacing the old one when it holds no record). The old one is made durable first, as rotation
 * does, so that no durable segment ever follows one that is not. Returns the new active end.
 */
function startCurrentVersion(
  fs: WalFileSystem,
  dir: string,
  segments: SegmentInfo[],
  nextSeq: number,
  activeEnd: number,
): number {
  const old = segments[segments.length - 1];
  // The new segment keeps the log's cut generation (see format.ts).
  const generation = segmentGeneration(fs, old.path);
  if (old.firstSeq === nextSeq) {
    writeFileDurably(fs, dir, old.name, [encodeSegmentHeader(nextSeq, undefined, generation)]);
    return SEGMENT_HEADER_SIZE;
  }
  const file = fs.openWrite(old.path, { create: false });
  try {
    if (file.size() > activeEnd) file.truncate(activeEnd);
    file.datasync();
  } finally {
    file.close();
  }
  segments.push(createSegment(fs, dir, nextSeq, undefined, generation));
  return SEGMENT_HEADER_SIZE;
}

/** Whether a directory entry is one the log may own or an OS leaves behind. */
function isLogFile(name: string): boolean {
  return name === LOCK_FILE || name === TRUNCATE_FILE || isOwnTempName(name) || parseSealName(name) !== null ||
    (name.startsWith("quarantine-") && name.endsWith(".bin")) || name.startsWith(".") || name === "lost+found";
}

/** The temporary files the log makes (see `writeFileDurably`): a segment's name or `TRUNCATE`, plus `.tmp`. */
export function isOwnTempName(name: string): boolean {
  if (!name.endsWith(TEMP_SUFFIX)) return false;
  const base = name.slice(0, -TEMP_SUFFIX.length);
  return base === TRUNCATE_FILE || parseSegmentName(base) !== null;
}

/**
 * Refuses a directory that is not a log, before anything in it is changed: a `.wal` file not named like a
 * segment, any file the log would not have made, or a directory, FIFO, socket or device where the log keeps a
 * file (a segment, `TRUNCATE`, a temporary file, a seal). A file named like a segment whose bytes are not a
 * segment's is damage instead (repair moves it to quarantine; nothing is ever deleted). Reads only; call it before taking the lock.
 * @throws WalFormatError naming the file or directory.
 */
export function checkLogDirectory(fs: WalFileSystem, dir: string): void {
  for (const name of fs.list(dir)) {
    const segment = parseSegmentName(name) !== null;
    if (!segment && !isLogFile(name)) {
      if (name.endsWith(".wal")) {
        throw new WalFormatError(fs.join(dir, name), "a .wal file that is not named like a segment (20 digits + .wal)");
      }
      throw new WalFormatError(dir, `not a log directory: it holds "${name}", which is none of the log's files`);
    }
    // Seals too: open reads them, and a FIFO would block that read for good.
    const kept = segment || name === TRUNCATE_FILE || name === LOCK_FILE || isOwnTempName(name) || parseSealName(name) !== null;
    if (kept) refuseDirectory(fs, fs.join(dir, name));
  }
}

/** Throws WalFormatError when `path` is a directory (where the log keeps a file). */
function refuseDirectory(fs: WalFileSystem, path: string): void {
  if (fs.fileKind !== undefined) {
    const kind = fs.fileKind(path);
    if (kind === "directory") throw new WalFormatError(path, "it is a directory, not a file");
    if (kind === "other") throw new WalFormatError(path, "it is a FIFO, socket or device, not a regular file");
    return;
  }
  let file: WalFile;
  try {
    file = fs.openRead(path);
  } catch (e) {
    if (isDirectoryError(e)) throw new WalFormatError(path, "it is a directory, not a file");
    throw e;
  }
  try {
    file.read(new Uint8Array(1), 0);
  } catch (e) {
    if (isDirectoryError(e)) throw new WalFormatError(path, "it is a directory, not a file");
    throw e;
  } finally {
    file.close();
  }
}

function isDirectoryError(e: unknown): boolean {
  const code = errorCode(e);
  if (code === "EISDIR") return true;
  // Deno names its error classes instead of (always) setting a code.
  return e instanceof Error && (e.name === "IsADirectory" || /is a directory/i.test(e.message));
}

/** Refuses a segment of a newer format version, in every mode: repairing it would destroy a newer writer's log. */
export function refuseNewerVersions(fs: WalFileSystem, segments: SegmentInfo[]): void {
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

/** The format version of a segment, or why its header cannot be used. */
function checkHeader(file: WalFile, seg: SegmentInfo): number | string {
  const header = readSegmentHeader(file);
  if (!header.ok) return `segment header unusable (${header.reason})`;
  if (header.firstSeq !== seg.firstSeq) {
    return `segment header says first seq ${header.firstSeq} but the file name says ${seg.firstSeq}`;
  }
  return header.version;
}

/** Reads every record of a segment; says where the valid part ends and whether the log proves damage real. */
function scan(file: WalFile, firstSeq: number, chunk: ReadBuffer, version: number): ScanResult {
  const size = file.size();
  const scanner = withScanChunk(chunk, Math.min(WALK_CHUNK_BYTES, size), (c) => {
    const s = new SegmentScanner(file, firstSeq, size, undefined, c, version);
    s.verifyToEnd();
    return s;
  });
  const stop = scanner.stop;
  const zeros = scanner.zerosFrom < 0 ? 0 : size - scanner.zerosFrom;
  if (stop === null) {
    return {
      lastSeq: scanner.unitSeq,
      start: scanner.unitStart,
      end: scanner.unitEnd,
      zeros,
      size,
      damage: null,
      validAfter: 0,
      proven: false,
    };
  }
  const after = version === 1
    ? afterStopV1(file, stop.offset, stop.seq, size)
    : afterStopV2(file, stop.offset, stop.seq, scanner.stopLength, size);
  return {
    lastSeq: scanner.unitSeq,
    start: scanner.unitStart,
    end: scanner.unitEnd,
    zeros,
    size,
    damage: { cut: scanner.unitEnd, location: stop, droppedMembers: scanner.pendingMembers + after.count },
    validAfter: after.count,
    proven: after.proven,
  };
}

/** What follows a stop: valid records found after it, and whether one proves the stopped-at seq was durable. */
interface AfterStop {
  count: number;
  proven: boolean;
}

const PROBE_CHUNK = 1024 * 1024;

/**
 * Version 2: finds the records with a valid header after a stop at `offset` (where seq `seq` was expected).
 * Steps over a record whose header checked out (`stopLength`, then each found record's length); after a header
 * that does not check out, searches byte by byte, where a candidate must have a known kind and flags, lengths in
 * range, a seq that the bytes since the stop could hold (each record takes at least a header) and a valid
 * header checksum. Each byte after the stop is read at most once.
 */
function afterStopV2(file: WalFile, offset: number, seq: number, stopLength: number, size: number): AfterStop {
  const hs = RECORD_HEADER_SIZE;
  const buf = new Uint8Array(Math.min(PROBE_CHUNK, Math.max(hs, size - offset)));
  const view = new DataView(buf.buffer);
  let bufStart = 0;
  let bufLen = 0;
  /** Index in `buf` of bytes [pos, pos + hs), or -1 past the end of the file. */
  const at = (pos: number): number => {
    if (pos + hs > size) return -1;
    if (pos < bufStart || pos + hs > bufStart + bufLen) {
      bufStart = pos;
      bufLen = file.read(buf.subarray(0, Math.min(buf.length, size - pos)), pos);
      if (bufLen < hs) return -1;
    }
    return pos - bufStart;
  };
  /** The length of the record whose header is at `i`, or -1 when the header does not check out. */
  const headerAt = (i: number): number => {
    if (buf[i + 12] < 1 || buf[i + 12] > 3 || (buf[i + 13] & ~KNOWN_FLAGS) !== 0) return -1;
    const opLen = view.getUint16(i + 14, true);
    const payload = opLen + view.getUint32(i + 16, true) + view.getUint32(i + 20, true);
    if (opLen > MAX_OP_TYPE_BYTES || payload > MAX_PAYLOAD_BYTES) return -1;
    if (view.getUint32(i + 28, true) !== crc32Small(buf, i + 4, HEADER_CRC_SPAN)) return -1;
    return hs + payload;
  };
  const result: AfterStop = { count: 0, proven: false };
  const found = (i: number): void => {
    result.count++;
    const back = view.getUint32(i + 24, true);
    if (back > 0 && getU64(view, i + 4) - back >= seq) result.proven = true;
  };
  let pos = stopLength > 0 ? offset + stopLength : offset + 1;
  let chained = stopLength > 0;
  while (pos + hs <= size) {
    if (chained) {
      const i = at(pos);
      if (i < 0) break;
      const length = headerAt(i);
      if (length > 0 && getU64(view, i + 4) > seq) {
        found(i);
        pos += length;
        continue;
      }
      chained = false;
      pos++;
      continue;
    }
    // Search the bytes in the buffer from pos, then move the buffer on.
    let i = at(pos);
    if (i < 0) break;
    const end = bufLen - hs;
    let hit = -1;
    for (; i <= end; i++) {
      const kind = buf[i + 12];
      if (kind === 0 || kind > 3 || buf[i + 13] > 3) continue;
      const candidate = view.getUint32(i + 4, true) + view.getUint32(i + 8, true) * 0x1_0000_0000;
      if (candidate <= seq || candidate > seq + Math.floor((bufStart + i - offset) / hs)) continue;
      const length = headerAt(i);
      if (length > 0) {
        hit = i;
        found(i);
        pos = bufStart + i + length;
        chained = true;
        break;
      }
    }
    if (hit < 0) pos = bufStart + end + 1;
  }
  return result;
}

/** How far past the expected seq a version-1 search accepts a record as the log's own. */
const RESYNC_SEQ_WINDOW = 1_000_000;

/**
 * Version 1: counts the valid records that follow damage at `offset`: searches byte by byte for a record with a
 * later seq whose checksum holds, then counts the run of valid records from there. Version-1 lengths are only
 * trustworthy once the whole record checked out, so each candidate costs a checksum over its claimed length;
 * the search reads each byte once and spends at most as many checksum bytes as follow the stop, then gives up
 * (a torn tail, which is what a crash leaves in this version). A count above zero is damage no crash leaves.
 */
function afterStopV1(file: WalFile, offset: number, seq: number, size: number): AfterStop {
  const hs = RECORD_HEADER_SIZE_V1;
  const chunk = new Uint8Array(Math.min(PROBE_CHUNK, Math.max(hs, size - offset)));
  const view = new DataView(chunk.buffer);
  let budget = size - offset;
  for (let base = offset + 1; base + hs <= size;) {
    const n = file.read(chunk, base);
    if (n < hs) break;
    for (let i = 0; i + hs <= n; i++) {
      // Cheap filters first: a plausible seq, kind, flags and lengths; the checksum decides.
      const kind = chunk[i + 12];
      if (kind === 0 || kind > 3 || chunk[i + 13] > 3) continue;
      const candidate = view.getUint32(i + 4, true) + view.getUint32(i + 8, true) * 0x1_0000_0000;
      if (candidate <= seq || candidate > seq + RESYNC_SEQ_WINDOW) continue;
      const opLen = view.getUint16(i + 14, true);
      const payload = opLen + view.getUint32(i + 16, true) + view.getUint32(i + 20, true);
      if (opLen > MAX_OP_TYPE_BYTES || payload > MAX_PAYLOAD_BYTES || base + i + hs + payload > size) continue;
      const length = hs + payload;
      budget -= length;
      if (budget < 0) return { count: 0, proven: false };
      let record: Uint8Array;
      if (i + length <= n) {
        record = chunk.subarray(i, i + length);
      } else {
        record = new Uint8Array(length);
        if (file.read(record, base + i) < length) continue;
      }
      if (new DataView(record.buffer, record.byteOffset).getUint32(0, true) !== crc32(record.subarray(4))) continue;
      // A small buffer: a candidate that fails the scanner's other rules costs little more than its checksum.
      budget -= 4096;
      const probe = new SegmentScanner(file, candidate, size, base + i, new ReadBuffer(4096), 1);
      let count = 0;
      while (probe.next()) count++;
      if (count > 0) return { count, proven: true };
    }
    base += n - hs + 1;
  }
  return { count: 0, proven: false };
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
  const action = segmentAction(fs, seg, reason);
  const path = fs.join(dir, quarantineName(seg.name, 0));
  fs.rename(seg.path, path);
  report.actions.push({ ...action, quarantineFile: path });
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
        report.actions.push({ ...cutAction(seg, damage, size, why), quarantineFile: copy });
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
