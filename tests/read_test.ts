// read(seq): every seq of a log (standalone records, batches, checkpoints, rotation, text and binary values, a
// multi-MiB value, format version 1) reads back as iterate() yields it; undefined past either end, before an
// append is acknowledged and after truncate; damage is a WalCorruptionError; one positioned read per record once
// the index exists; no descriptor left open by close().
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeFs from "node:fs";
import * as path from "node:path";
import {
  WalClosedError,
  WalCorruptionError,
  WalInvalidArgumentError,
  WriteAheadLog,
} from "../mod.ts";
import type { ReadOnlyLog, WalFile, WalFileSystem, WalOptions, WalRecord } from "../mod.ts";
import { defaultFileSystem } from "../src/io/default.ts";
import { crc32 } from "../src/crc32.ts";
import { encodeSegmentHeader, RECORD_HEADER_SIZE, RECORD_HEADER_SIZE_V1, SEGMENT_HEADER_SIZE } from "../src/format.ts";
import { RecordLookup, SEALED_CACHED } from "../src/record_lookup.ts";
import { SegmentIndex } from "../src/seq_index.ts";
import { listSegments } from "../src/segment.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

async function collect(it: AsyncIterable<WalRecord>): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

/** Every seq from 0 to one past the end read one by one: each must equal what iterate() yields for it. */
async function checkEverySeq(log: WriteAheadLog | ReadOnlyLog, where: string): Promise<void> {
  const all = await collect(log.iterate({ afterSeq: log.firstSeqNum() - 1 }));
  const bySeq = new Map(all.map((r) => [r.seqNum, r]));
  const last = log.currentSeqNum();
  for (let seq = 0; seq <= last + 2; seq++) {
    assert.deepEqual(await log.read(seq), bySeq.get(seq), `${where}: read(${seq})`);
  }
  assert.ok(all.length > 0 || last < log.firstSeqNum(), `${where}: the log holds records`);
}

/** Standalone records, batches, checkpoints, text and binary values, one of 3 MiB; several small segments. */
async function fillMixed(wal: WriteAheadLog): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (i % 9 === 0) {
      await wal.appendBatch([["PUT", `b${i}`, "batch text"], ["DELETE", `d${i}`], ["BIN", `x${i}`, new Uint8Array([i, 0, 255])]]);
    } else if (i % 13 === 0) {
      await wal.checkpoint();
    } else if (i === 50) {
      await wal.append("PUT", "big", new Uint8Array(3 * 1024 * 1024).map((_, j) => j * 7));
    } else if (i === 51) {
      await wal.append("PUT", "bigtext", "é".repeat(600_000));
    } else {
      await wal.append(i % 2 === 0 ? "PUT" : "ünïcode-op", `key-${i}-ключ`, i % 3 === 0 ? new Uint8Array(i) : "v".repeat(i * 3));
    }
  }
}

test("read(seq) returns every record as iterate() does: batches, checkpoints, rotation, text and bytes, a 3 MiB value", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    await fillMixed(wal);
    assert.ok(segmentFiles(dir).length > SEALED_CACHED + 2, "more segments than the sealed indexes kept");
    await checkEverySeq(wal, "writer");
    // Reads into sealed segments in random order, through the bounded cache, then the newest again.
    const last = wal.currentSeqNum();
    const all = new Map((await collect(wal.iterate())).map((r) => [r.seqNum, r]));
    let x = 7;
    for (let i = 0; i < 300; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const seq = 1 + (x % last);
      assert.deepEqual(await wal.read(seq), all.get(seq), `random read(${seq})`);
    }
    const bytes = await wal.read(all.size > 0 ? [...all.values()].find((r) => r.key === "big")!.seqNum : 0);
    assert.ok(bytes?.value instanceof Uint8Array && bytes.value.length === 3 * 1024 * 1024);
    await wal.close();
    const again = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    await checkEverySeq(again, "after reopen");
    // Appends after reads: the newest segment's index follows the writer, across rotations.
    for (let i = 0; i < 40; i++) {
      const seq = await again.append("PUT", `late${i}`, "w".repeat(200));
      assert.deepEqual(await again.read(seq), { seqNum: seq, opType: "PUT", key: `late${i}`, value: "w".repeat(200) });
    }
    await checkEverySeq(again, "after appends that rotated");
    await again.close();
    const reader = await WriteAheadLog.openReadOnly(dir);
    await checkEverySeq(reader, "read-only handle");
    await reader.close();
  });
});

test("read(seq) on a log whose older segments are format version 1", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 2048 });
    await fillMixed(wal);
    await wal.close();
    for (const file of segmentFiles(dir)) nodeFs.writeFileSync(file, toVersion1(new Uint8Array(nodeFs.readFileSync(file))));
    const v1 = await WriteAheadLog.open(dir, { maxFileSize: 2048, recovery: "strict" });
    assert.equal(v1.recovery.clean, true);
    const appended = await v1.append("PUT", "v2", "record"); // goes to a new version-2 segment
    assert.equal(nodeFs.readFileSync(segmentFiles(dir)[0])[8], 1, "the oldest segment is version 1");
    await checkEverySeq(v1, "version 1 then 2");
    assert.deepEqual(await v1.read(appended), { seqNum: appended, opType: "PUT", key: "v2", value: "record" });
    await v1.close();
  });
});

test("read(seq) after truncate: removed seqs are undefined, the rest unchanged, new appends readable", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    await fillMixed(wal);
    await checkEverySeq(wal, "before truncate"); // every index built, then invalidated by the truncates
    const last = wal.currentSeqNum();
    for (const upTo of [10, Math.floor(last / 2), last - 3]) {
      await wal.truncate(upTo);
      assert.equal(await wal.read(upTo), undefined, `read(${upTo}) after truncate(${upTo})`);
      await checkEverySeq(wal, `after truncate(${upTo})`);
    }
    // The newest segment was rewritten by the last truncate: appends after it are read through a new index.
    for (let i = 0; i < 30; i++) {
      const seq = await wal.append("PUT", `after${i}`, "z".repeat(100));
      assert.equal((await wal.read(seq))?.key, `after${i}`);
    }
    await checkEverySeq(wal, "appends after truncate");
    await wal.truncate(wal.currentSeqNum() + 5); // everything
    assert.equal(await wal.read(wal.currentSeqNum()), undefined);
    const seq = await wal.append("PUT", "fresh", "1");
    assert.equal((await wal.read(seq))?.key, "fresh");
    await wal.close();
  });
});

test("read(seq) sees only acknowledged records: queued appends, a batch, and a group whose fdatasync is in flight", async () => {
  await withTempDir(async (dir) => {
    const gate = gatedFileSystem(await defaultFileSystem());
    const wal = await WriteAheadLog.open(dir, { fs: gate.fs, syncMode: "sync", io: "async" });
    assert.equal(await wal.append("PUT", "a", "1"), 1);
    assert.equal((await wal.read(1))?.key, "a"); // the index of the newest segment now exists
    gate.hold();
    const pending = [wal.append("PUT", "b", "2"), wal.append("PUT", "c", "3")];
    const batch = wal.appendBatch([["PUT", "m1", "x"], ["PUT", "m2", "y"]]); // 4, 5, COMMIT 6
    assert.equal(wal.currentSeqNum(), 6);
    for (let seq = 2; seq <= 6; seq++) assert.equal(await wal.read(seq), undefined, `queued: read(${seq})`);
    // Let the group be written: its fdatasync is held, so nothing of it is acknowledged yet.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(gate.waiting() > 0, "a group's fdatasync is in flight");
    for (let seq = 2; seq <= 6; seq++) assert.equal(await wal.read(seq), undefined, `fdatasync in flight: read(${seq})`);
    gate.release();
    assert.deepEqual(await Promise.all(pending), [2, 3]);
    assert.equal(await batch, 6);
    assert.deepEqual((await wal.read(4))?.key, "m1");
    assert.deepEqual(await wal.read(6), { seqNum: 6, opType: "COMMIT", key: "", value: "" });
    await wal.close();
  });
});

test("read(seq) interleaved with pipelined appends across rotations: each record is undefined until acknowledged, then exact", async () => {
  for (const syncMode of ["sync", "batch", "none"] as const) {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { maxFileSize: 3000, syncMode });
      const expected = new Map<number, WalRecord>();
      const acked = new Set<number>();
      let x = 99;
      const random = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
      const pending: Promise<void>[] = [];
      for (let i = 0; i < 300; i++) {
        const value = random() < 0.3 ? new Uint8Array(Math.floor(random() * 500)).fill(i & 0xff) : "v".repeat(Math.floor(random() * 400));
        const first = wal.currentSeqNum() + 1;
        if (random() < 0.2) {
          const ops = [["PUT", `b${i}`, value], ["DELETE", `d${i}`, ""]] as const;
          ops.forEach(([opType, key, v], j) => expected.set(first + j, { seqNum: first + j, opType, key, value: v }));
          expected.set(first + 2, { seqNum: first + 2, opType: "COMMIT", key: "", value: "" });
          pending.push(wal.appendBatch(ops).then((commit) => [first, first + 1, commit].forEach((s) => acked.add(s))));
        } else {
          expected.set(first, { seqNum: first, opType: "PUT", key: `k${i}`, value });
          pending.push(wal.append("PUT", `k${i}`, value).then((seq) => void acked.add(seq)));
        }
        // Reads of random seqs (some not yet acknowledged), sometimes after a turn of the event loop.
        for (let r = 0; r < 3; r++) {
          const seq = 1 + Math.floor(random() * (wal.currentSeqNum() + 1));
          const ackedBefore = acked.has(seq);
          const got = await wal.read(seq);
          if (got === undefined) assert.ok(!ackedBefore, `read(${seq}) undefined after its append resolved (${syncMode})`);
          else assert.deepEqual(got, expected.get(seq), `read(${seq}) (${syncMode})`);
        }
        if (random() < 0.1) await new Promise((resolve) => setTimeout(resolve, 0));
      }
      await Promise.all(pending);
      for (let seq = 1; seq <= wal.currentSeqNum(); seq++) assert.deepEqual(await wal.read(seq), expected.get(seq), `read(${seq})`);
      assert.ok(segmentFiles(dir).length > 5);
      await wal.close();
    });
  }
});

test("read(seq) of a damaged record is a WalCorruptionError, and appends are refused until reopen", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096, verify: "tail" });
    const seqs: number[] = [];
    for (let i = 0; i < 60; i++) seqs.push(await wal.append("PUT", `k${i}`, `value-${i}`.repeat(10)));
    await wal.close();
    // Damage a value byte of seq 5 (in the oldest segment, which verify: "tail" does not read at open).
    const first = segmentFiles(dir)[0];
    const bytes = new Uint8Array(nodeFs.readFileSync(first));
    let at = SEGMENT_HEADER_SIZE;
    for (let seq = 1; seq < 5; seq++) at += recordLength(bytes, at, RECORD_HEADER_SIZE);
    bytes[at + RECORD_HEADER_SIZE + 10] ^= 0x40;
    nodeFs.writeFileSync(first, bytes);
    const again = await WriteAheadLog.open(dir, { maxFileSize: 4096, verify: "tail" });
    assert.equal((await again.read(4))?.key, "k3");
    await assert.rejects(again.read(5), (e) => e instanceof WalCorruptionError && /checksum/.test(e.message));
    await assert.rejects(again.append("PUT", "more", "x"), WalCorruptionError);
    assert.equal((await again.read(6))?.key, "k5", "other records still read");
    await again.close();
    // A read-only open verifies every record: its log ends before the damage, as `damage` says.
    const reader = await WriteAheadLog.openReadOnly(dir);
    assert.equal(reader.damage?.seq, 5);
    assert.equal((await reader.read(4))?.key, "k3");
    assert.equal(await reader.read(5), undefined);
    await reader.close();
  });
});

test("read(seq): exactly one positioned read per record once the segment's index exists", async () => {
  await withTempDir(async (dir) => {
    const counting = countingFileSystem(await defaultFileSystem());
    const wal = await WriteAheadLog.open(dir, { fs: counting.fs, maxFileSize: 64 * 1024 });
    for (let i = 0; i < 2000; i++) await wal.append("PUT", `k${i}`, "v".repeat(i % 300));
    const last = wal.currentSeqNum();
    // Build every index (one pass each), then count.
    for (let seq = 1; seq <= last; seq++) await wal.read(seq);
    const segments = segmentFiles(dir).length;
    assert.ok(segments > 2);
    // Reads within the newest segment and the most recent sealed ones: one read call each.
    const recent = Array.from({ length: 200 }, (_, i) => last - i);
    const before = counting.reads;
    for (const seq of recent) assert.equal((await wal.read(seq))?.seqNum, seq);
    assert.equal(counting.reads - before, recent.length, "reads per record");
    // A record appended after the index was built: the writer keeps the index, no rescan.
    const seq = await wal.append("PUT", "new", "x".repeat(50));
    const before2 = counting.reads;
    assert.equal((await wal.read(seq))?.key, "new");
    assert.equal(counting.reads - before2, 1, "a new record: one read");
    // A 1 MiB record is one read too.
    const big = await wal.append("PUT", "big", new Uint8Array(1024 * 1024));
    const before3 = counting.reads;
    assert.equal(((await wal.read(big))?.value as Uint8Array).length, 1024 * 1024);
    assert.equal(counting.reads - before3, 1, "a 1 MiB record: one read");
    await wal.close();
  });
});

test("read(seq) keeps a bounded number of descriptors, and close() releases every one", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 2048 });
    for (let i = 0; i < 400; i++) await wal.append("PUT", `k${i}`, "v".repeat(40));
    const segments = segmentFiles(dir).length;
    assert.ok(segments > SEALED_CACHED + 3, `segments: ${segments}`);
    for (let seq = 1; seq <= wal.currentSeqNum(); seq++) assert.equal((await wal.read(seq))?.seqNum, seq);
    const held = openFilesIn(dir);
    await wal.close();
    const after = openFilesIn(dir);
    if (held === null || after === null) {
      console.log("skipped the descriptor count: /proc/self/fd cannot be read here (not Linux, or Deno without --allow-all)");
    } else {
      // The sealed indexes kept, the newest segment's read descriptor, the writer's, and the lock file.
      assert.ok(held <= SEALED_CACHED + 3, `descriptors held while reading ${segments} segments: ${held}`);
      assert.equal(after, 0, `descriptors left open in the log directory after close(): ${after}`);
    }
    await assert.rejects(wal.read(1), WalClosedError);
    const reader = await WriteAheadLog.openReadOnly(dir);
    for (let seq = 1; seq <= 400; seq += 7) assert.equal((await reader.read(seq))?.seqNum, seq);
    await reader.close();
    const afterReader = openFilesIn(dir);
    if (afterReader !== null) assert.equal(afterReader, 0, "descriptors left open by a closed read-only handle");
    await assert.rejects(reader.read(1), WalClosedError);
  });
});

test("read(seq) refuses a seq that is not an integer >= 0 with WalInvalidArgumentError", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "k", "v");
    const reader = await WriteAheadLog.openReadOnly(dir);
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53, "1", null, undefined, 1n]) {
      await assert.rejects(wal.read(bad as number), (e) => e instanceof WalInvalidArgumentError && /"seq"/.test(e.message));
      await assert.rejects(reader.read(bad as number), WalInvalidArgumentError);
    }
    assert.equal(await wal.read(Number.MAX_SAFE_INTEGER), undefined);
    await reader.close();
    await wal.close();
  });
});

test("a read-only handle reads what a writer appended once refreshed", async () => {
  await withTempDir(async (dir) => {
    const options: WalOptions = { maxFileSize: 4096 };
    const wal = await WriteAheadLog.open(dir, options);
    for (let i = 0; i < 30; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
    const reader = await WriteAheadLog.openReadOnly(dir);
    assert.equal((await reader.read(30))?.key, "k29");
    for (let i = 30; i < 90; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
    assert.equal(await reader.read(31), undefined, "not yet refreshed");
    assert.equal(await reader.refresh(), 90);
    await checkEverySeq(reader, "refreshed");
    await wal.truncate(40);
    await reader.refresh();
    assert.equal(await reader.read(40), undefined);
    assert.equal((await reader.read(41))?.key, "k40");
    await reader.close();
    await wal.close();
  });
});

test("SegmentIndex: offsets by seq, lengths from the next offset, gaps refused, dropAfter, offsets past 4 GiB", () => {
  const index = new SegmentIndex(10, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, 2);
  assert.equal(index.add(SEGMENT_HEADER_SIZE, 40), true);
  assert.equal(index.add(SEGMENT_HEADER_SIZE + 40, 32), true);
  assert.equal(index.add(SEGMENT_HEADER_SIZE + 100, 32), false, "a gap is refused");
  assert.equal(index.add(SEGMENT_HEADER_SIZE + 72, 50), true, "grows past its capacity");
  assert.deepEqual([index.has(9), index.has(10), index.has(12), index.has(13)], [false, true, true, false]);
  assert.deepEqual([index.offset(11), index.length(11), index.length(12), index.end], [72, 32, 50, 154]);
  index.dropAfter(10);
  assert.deepEqual([index.count, index.end, index.nextSeq], [1, 72, 11]);
  index.dropAfter(3);
  assert.deepEqual([index.count, index.end], [0, SEGMENT_HEADER_SIZE]);
  const huge = new SegmentIndex(1, RECORD_HEADER_SIZE, 2 ** 32 - 10);
  huge.add(2 ** 32 - 10, 64 * 1024 * 1024);
  huge.add(2 ** 32 - 10 + 64 * 1024 * 1024, 100);
  assert.deepEqual([huge.offset(2), huge.length(1), huge.length(2)], [2 ** 32 - 10 + 64 * 1024 * 1024, 64 * 1024 * 1024, 100]);
});

test("RecordLookup.dropAfter (for a cut of the log's tail) forgets offsets, and the next read indexes the file again", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 2048 });
    for (let i = 0; i < 100; i++) await wal.append("PUT", `k${i}`, "v".repeat(30));
    await wal.close();
    const fs = await defaultFileSystem();
    const segments = listSegments(fs, dir);
    const end = nodeFs.statSync(segmentFiles(dir).at(-1)!).size;
    const lookup = new RecordLookup(fs);
    for (let seq = 1; seq <= 100; seq++) assert.equal(lookup.read(segments, seq, end, end)?.key, `k${seq - 1}`);
    for (const cut of [95, 60, 3]) {
      lookup.dropAfter(cut);
      for (let seq = cut + 1; seq <= 100; seq++) assert.equal(lookup.read(segments, seq, end, end)?.key, `k${seq - 1}`);
    }
    lookup.reset();
    const held = openFilesIn(dir);
    if (held !== null) assert.equal(held, 0, "reset() closes every descriptor");
  });
});

function recordLength(bytes: Uint8Array, at: number, hs: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return hs + view.getUint16(at + 14, true) + view.getUint32(at + 16, true) + view.getUint32(at + 20, true);
}

/** A closed, undamaged version-2 segment re-encoded as version 1 (as an older version of the library wrote it). */
function toVersion1(segment: Uint8Array): Uint8Array {
  const view = new DataView(segment.buffer, segment.byteOffset, segment.length);
  const parts: Uint8Array[] = [encodeSegmentHeader(Number(view.getBigUint64(12, true)), 1)];
  for (let at = SEGMENT_HEADER_SIZE; at + RECORD_HEADER_SIZE <= segment.length;) {
    const payload = recordLength(segment, at, 0);
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

/** A file whose calls go to `file`, with `read` counted and `datasyncAsync` passed through `sync`. */
function wrapFile(file: WalFile, onRead: () => void, sync?: (run: () => Promise<void>) => Promise<void>): WalFile {
  const asyncSync = file.datasyncAsync?.bind(file);
  return {
    append: (data) => file.append(data),
    writeAt: (data, position) => file.writeAt(data, position),
    read: (into, position) => {
      onRead();
      return file.read(into, position);
    },
    datasync: () => file.datasync(),
    datasyncAsync: asyncSync === undefined ? undefined : () => (sync === undefined ? asyncSync() : sync(asyncSync)),
    size: () => file.size(),
    truncate: (length) => file.truncate(length),
    close: () => file.close(),
  };
}

/** The file system with every positioned read counted (`reads`). */
function countingFileSystem(base: WalFileSystem): { fs: WalFileSystem; readonly reads: number } {
  const state = { reads: 0 };
  const onRead = () => state.reads++;
  const fs: WalFileSystem = {
    ...base,
    openRead: (p) => wrapFile(base.openRead(p), onRead),
    openWrite: (p, o) => wrapFile(base.openWrite(p, o), onRead),
  };
  return {
    fs,
    get reads() {
      return state.reads;
    },
  };
}

/** The file system with off-thread fdatasyncs held back while `hold()` is in force. */
function gatedFileSystem(base: WalFileSystem): { fs: WalFileSystem; hold(): void; release(): void; waiting(): number } {
  let held = false;
  let waiters: (() => void)[] = [];
  const sync = async (run: () => Promise<void>) => {
    if (held) await new Promise<void>((resolve) => waiters.push(resolve));
    await run();
  };
  const fs: WalFileSystem = {
    ...base,
    openRead: (p) => wrapFile(base.openRead(p), () => {}),
    openWrite: (p, o) => wrapFile(base.openWrite(p, o), () => {}, sync),
  };
  return {
    fs,
    hold: () => void (held = true),
    release() {
      held = false;
      const list = waiters;
      waiters = [];
      for (const w of list) w();
    },
    waiting: () => waiters.length,
  };
}

/** File descriptors of this process that point into `dir` (Linux), or null where /proc/self/fd is missing. */
function openFilesIn(dir: string): number | null {
  let fds: string[];
  try {
    fds = nodeFs.readdirSync("/proc/self/fd");
  } catch {
    return null; // not Linux, or (Deno) /proc needs --allow-all
  }
  const real = nodeFs.realpathSync(dir);
  let n = 0;
  for (const fd of fds) {
    try {
      const target = nodeFs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + path.sep) || target.startsWith(real + path.sep)) n++;
    } catch {
      // closed between the listing and the readlink
    }
  }
  return n;
}
