// Seeded damage fuzzing of closed logs: bit flips, truncation at any byte, garbage appended and zeroed ranges, in
// any segment (header bytes included). Each case damages a copy of a log and opens it twice, in strict and in
// default mode. WAL_FUZZ_SEED and WAL_FUZZ_CASES change the run; WAL_FUZZ_CASE=n replays the single case n.
//
// What is expected of every case:
// - default mode: open never throws; the log holds an exact prefix of what was written (same seqs, no gap, same
//   bytes, no batch member without its COMMIT); an append then gets the next seq and is replayable.
// - strict mode: open either succeeds with the same guarantees, or throws WalCorruptionError and changes no file.
// - WalFormatError only where the damage made a header that is a newer version's in every respect (magic intact,
//   version above the current one, and its header checksum valid): a newer writer's file must never be
//   "repaired" away. Random damage practically never does that, so in effect neither mode may throw anything
//   but WalCorruptionError.
// One base log is rewritten in format version 1 (which is still read), so that both layouts are fuzzed.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeFs from "node:fs";
import process from "node:process";
import { WalCorruptionError, WalFormatError, WriteAheadLog } from "../mod.ts";
import type { WalFileSystem, WalRecord } from "../mod.ts";
import { crc32 } from "../src/crc32.ts";
import {
  encodeSegmentHeader,
  FORMAT_VERSION,
  RECORD_HEADER_SIZE,
  RECORD_HEADER_SIZE_V1,
  SEGMENT_HEADER_SIZE,
} from "../src/format.ts";
import { CrashFileSystem, seededRandom } from "../src/io/crash_fs.ts";
import { removeDir, tempDir } from "./helpers.ts";

const DIR = "/wal";
const SEED = Number(process.env.WAL_FUZZ_SEED ?? 7331);
const CASES = Number(process.env.WAL_FUZZ_CASES ?? 5000);
const ONLY = process.env.WAL_FUZZ_CASE === undefined ? undefined : Number(process.env.WAL_FUZZ_CASE);
const MAGIC = "JSWALSEG";

interface Written {
  opType: string;
  key: string;
  value: string | Uint8Array;
  commit?: number;
}

interface BaseLog {
  name: string;
  disk: CrashFileSystem;
  written: Map<number, Written>;
  /** The seq the log starts at (after its truncate, if any) and its last seq. */
  start: number;
  last: number;
  maxFileSize: number;
}

/** Writes a log of `units` appends, batches and checkpoints; truncates it to `truncateTo` if given. */
async function writeLog(
  dir: string,
  fs: WalFileSystem | undefined,
  maxFileSize: number,
  units: number,
  seed: number,
  truncateTo?: number,
) {
  const random = seededRandom(seed);
  const written = new Map<number, Written>();
  const wal = await WriteAheadLog.open(dir, { fs, maxFileSize });
  const value = (i: number): string | Uint8Array => {
    const size = Math.floor(random() * 200);
    if (i % 4 === 1) return Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
    if (i % 6 === 2) return "ü€😀".repeat(size % 20);
    return "x".repeat(size);
  };
  for (let i = 0; i < units; i++) {
    const r = random();
    if (r < 0.2) {
      const ops: [string, string, string | Uint8Array][] = [];
      for (let j = 0, n = 1 + Math.floor(random() * 5); j < n; j++) ops.push(["PUT", `b${i}.${j}`, value(i + j)]);
      const commit = await wal.appendBatch(ops);
      ops.forEach(([opType, key, v], j) => written.set(commit - ops.length + j, { opType, key, value: v, commit }));
      written.set(commit, { opType: "COMMIT", key: "", value: "" });
    } else if (r < 0.25) {
      written.set(await wal.checkpoint(), { opType: "CHECKPOINT", key: "", value: "" });
    } else {
      const opType = r < 0.3 ? "DELETE" : r < 0.33 ? "app.custom-op" : "PUT";
      const v = value(i);
      written.set(await wal.append(opType, `k${i}`, v), { opType, key: `k${i}`, value: v });
    }
  }
  let start = 1;
  if (truncateTo !== undefined) {
    while (written.get(truncateTo)?.commit !== undefined) truncateTo--; // keep batches whole
    await wal.truncate(truncateTo);
    start = truncateTo + 1;
  }
  const last = wal.currentSeqNum();
  await wal.close();
  return { written, start, last };
}

async function baseLogs(): Promise<BaseLog[]> {
  const logs: BaseLog[] = [];
  const memory = async (name: string, maxFileSize: number, units: number, seed: number, truncateTo?: number) => {
    const disk = new CrashFileSystem({ seed });
    const log = await writeLog(DIR, disk, maxFileSize, units, seed, truncateTo);
    logs.push({ name, disk: disk.clone(), ...log, maxFileSize });
  };
  await memory("one segment", 64 * 1024, 40, SEED);
  await memory("several segments", 4096, 120, SEED + 1);
  await memory("truncated", 4096, 120, SEED + 2, 50);
  // The same bytes must come out of the runtime's real file system: fuzz one log written through it too.
  const dir = tempDir("wal-fuzz-");
  try {
    const log = await writeLog(dir, undefined, 4096, 60, SEED + 3);
    const files = new Map<string, Uint8Array>();
    for (const name of nodeFs.readdirSync(dir)) {
      files.set(`${DIR}/${name}`, new Uint8Array(nodeFs.readFileSync(`${dir}/${name}`)));
    }
    logs.push({ name: "real file system", disk: CrashFileSystem.from(files, [DIR]), ...log, maxFileSize: 4096 });
  } finally {
    removeDir(dir);
  }
  // The same records in format version 1, as an older version of the library wrote them.
  const v1 = logs[1];
  const v1Disk = v1.disk.clone();
  for (const path of segmentsOf(v1Disk)) v1Disk.overwrite(path, toVersion1(v1Disk.readFile(path)));
  logs.push({ ...v1, name: "several segments, format version 1", disk: v1Disk });
  for (const log of logs) assert.ok(log.last >= log.start + 20, `${log.name}: too short to fuzz`);
  return logs;
}

/** A closed, undamaged version-2 segment re-encoded as version 1. */
function toVersion1(segment: Uint8Array): Uint8Array {
  const view = new DataView(segment.buffer, segment.byteOffset, segment.length);
  const parts: Uint8Array[] = [encodeSegmentHeader(Number(view.getBigUint64(12, true)), 1)];
  for (let at = SEGMENT_HEADER_SIZE; at + RECORD_HEADER_SIZE <= segment.length;) {
    const payload = view.getUint16(at + 14, true) + view.getUint32(at + 16, true) + view.getUint32(at + 20, true);
    const record = new Uint8Array(RECORD_HEADER_SIZE_V1 + payload);
    record.set(segment.subarray(at + 4, at + 24), 4);
    record.set(segment.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + payload), RECORD_HEADER_SIZE_V1);
    new DataView(record.buffer).setUint32(0, crc32(record.subarray(4)), true);
    parts.push(record);
    at += RECORD_HEADER_SIZE + payload;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function segmentsOf(disk: CrashFileSystem): string[] {
  return disk.list(DIR).filter((n) => n.endsWith(".wal")).sort().map((n) => `${DIR}/${n}`);
}

/** Damages one segment of `disk`; returns a description for failure messages. */
function damage(disk: CrashFileSystem, random: () => number): string {
  const segments = segmentsOf(disk);
  const path = segments[Math.floor(random() * segments.length)];
  const bytes = disk.readFile(path);
  const size = bytes.length;
  // A fifth of the damage aims at the first 64 bytes: the segment header and the first record header.
  const at = (limit: number) => Math.floor(random() * (random() < 0.2 ? Math.min(64, limit) : limit));
  const kind = Math.floor(random() * 4);
  let what: string;
  let out = bytes;
  if (kind === 0 && size > 0) {
    const flips: number[] = [];
    for (let i = 0, n = 1 + Math.floor(random() * 3); i < n; i++) {
      const bit = at(size) * 8 + Math.floor(random() * 8);
      out[bit >> 3] ^= 1 << (bit & 7);
      flips.push(bit);
    }
    what = `flipped bits ${flips.join(",")}`;
  } else if (kind === 1) {
    const length = at(size);
    out = bytes.slice(0, length);
    what = `truncated to ${length}`;
  } else if (kind === 2) {
    const extra = Uint8Array.from({ length: 1 + Math.floor(random() * 100) }, () => Math.floor(random() * 256));
    out = new Uint8Array(size + extra.length);
    out.set(bytes);
    out.set(extra, size);
    what = `appended ${extra.length} garbage bytes`;
  } else {
    const from = at(size);
    const to = Math.min(size, from + 1 + Math.floor(random() * (random() < 0.5 ? 16 : 600)));
    out.fill(0, from, to);
    what = `zeroed ${from}..${to}`;
  }
  disk.overwrite(path, out);
  return `${path.slice(DIR.length + 1)}: ${what}`;
}

/** "newer" when a damaged segment header is a newer version's in every respect (see the header comment). */
function refusedAsFormat(disk: CrashFileSystem): "newer" | null {
  for (const path of segmentsOf(disk)) {
    const bytes = disk.readFile(path);
    if (bytes.length < 32 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) continue;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const size = view.getUint16(10, true);
    if (view.getUint16(8, true) > FORMAT_VERSION && size >= 16 && size <= bytes.length &&
      view.getUint32(size - 4, true) === crc32(bytes.subarray(0, size - 4))) return "newer";
  }
  return null;
}

/** Checks an opened log against what was written: an exact prefix; then appends once and reads it back. */
async function checkPrefix(wal: WriteAheadLog, base: BaseLog, where: string, append: boolean): Promise<void> {
  let start = wal.currentSeqNum() + 1;
  for await (const r of wal.iterate()) {
    start = r.seqNum;
    break;
  }
  const last = wal.currentSeqNum();
  assert.equal(start, base.start, `${where}: the log starts at seq ${start}`);
  assert.ok(last <= base.last, `${where}: the log ends at seq ${last}, after the last written (${base.last})`);
  const tail = base.written.get(last);
  assert.ok(last < start || tail?.commit === undefined, `${where}: the log ends inside a batch (seq ${last})`);
  const want: WalRecord[] = [];
  for (let s = start; s <= last; s++) {
    const r = base.written.get(s)!;
    if (r.opType !== "COMMIT" && r.opType !== "CHECKPOINT") {
      want.push({ seqNum: s, opType: r.opType, key: r.key, value: r.value });
    }
  }
  assert.deepEqual(await wal.replay(), want, `${where}: replay is not the written prefix up to seq ${last}`);
  if (!append) return;
  const seq = await wal.append("PUT", "after-damage", where);
  assert.equal(seq, last + 1, `${where}: the append after the repair got seq ${seq}`);
  assert.deepEqual(await wal.replay({ afterSeq: last }), [{
    seqNum: seq,
    opType: "PUT",
    key: "after-damage",
    value: where,
  }], `${where}: append not replayable`);
}

function sameFiles(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [path, bytes] of a) {
    const other = b.get(path);
    if (other === undefined || other.length !== bytes.length || !other.every((x, i) => x === bytes[i])) return false;
  }
  return true;
}

async function runCase(bases: BaseLog[], n: number): Promise<"newer" | "corruption" | "opened"> {
  const random = seededRandom(SEED * 1_000_003 + n);
  const base = bases[n % bases.length];
  const damaged = base.disk.clone();
  const what: string[] = [];
  for (let i = 0, count = random() < 0.8 ? 1 : 2; i < count; i++) what.push(damage(damaged, random));
  const where = `fuzz case ${n} (seed ${SEED}, ${base.name}: ${what.join("; ")})`;
  const format = refusedAsFormat(damaged);
  const options = { maxFileSize: base.maxFileSize };

  // Strict first, on its own copy: it must refuse with WalCorruptionError and touch nothing, or open cleanly.
  const strictDisk = damaged.clone();
  let outcome: "newer" | "corruption" | "opened" = "opened";
  try {
    const wal = await WriteAheadLog.open(DIR, { ...options, fs: strictDisk, recovery: "strict" });
    assert.ok(format === null, `${where}: strict open accepted a log it must refuse as a format error`);
    // Only the newest segment may end in a torn tail; damage anywhere else is not a crash's and must be refused.
    const before = base.disk.snapshot().files;
    const after = damaged.snapshot().files;
    for (const path of segmentsOf(base.disk).slice(0, -1)) {
      assert.ok(
        sameFiles(new Map([[path, before.get(path)!]]), new Map([[path, after.get(path)!]])),
        `${where}: strict open accepted damage in ${path}`,
      );
    }
    await checkPrefix(wal, base, `${where} [strict]`, false);
    await wal.close();
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    if (format !== null) {
      assert.ok(e instanceof WalFormatError, `${where}: strict open threw ${e} instead of WalFormatError`);
      outcome = format;
    } else {
      assert.ok(e instanceof WalCorruptionError, `${where}: strict open threw ${e}`);
      assert.ok(
        sameFiles(strictDisk.snapshot().files, damaged.snapshot().files),
        `${where}: strict open changed files before refusing`,
      );
      outcome = "corruption";
    }
  }

  const disk = damaged.clone();
  if (format !== null) {
    await assert.rejects(WriteAheadLog.open(DIR, { ...options, fs: disk }), WalFormatError, `${where}: default open`);
    return outcome;
  }
  let wal: WriteAheadLog;
  try {
    wal = await WriteAheadLog.open(DIR, { ...options, fs: disk });
  } catch (e) {
    assert.fail(`${where}: default open threw ${e}`);
  }
  await checkPrefix(wal, base, where, true);
  await wal.close();
  // The repair must leave a log that needs no further repair.
  const again = await WriteAheadLog.open(DIR, { ...options, fs: disk, recovery: "strict" });
  assert.ok(again.recovery.clean, `${where}: reopening after the repair found more to repair`);
  await again.close();
  return outcome;
}

test("damaged logs open to an exact prefix of what was written, in every mode", async () => {
  const bases = await baseLogs();
  const counts = { opened: 0, corruption: 0, newer: 0 };
  const from = ONLY ?? 0;
  const to = ONLY === undefined ? CASES : ONLY + 1;
  for (let n = from; n < to; n++) counts[await runCase(bases, n)]++;
  const total = to - from;
  console.log(
    `fuzz_test: ${total} cases, seed ${SEED} (strict mode: ${counts.corruption} refused as corrupt, ` +
      `${counts.newer} refused as a newer version, ${counts.opened} opened)`,
  );
  if (ONLY === undefined) {
    // Guard against a fuzzer that stopped damaging anything: most cases must trip strict mode.
    assert.ok(counts.corruption > total / 4, `only ${counts.corruption} of ${total} cases were detected as corrupt`);
  }
});
