// Recovery of torn tails (cost and payloads that look like records), the log's own temporary files, directories
// where the log keeps files, oversized keys, and a segment that starts with a COMMIT (left by truncate).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { MAX_PAYLOAD_BYTES, WalCorruptionError, WalFormatError, WalInvalidArgumentError, WriteAheadLog } from "../mod.ts";
import type { WalFile, WalFileSystem } from "../mod.ts";
import { crc32 } from "../src/crc32.ts";
import { encodeSegmentHeader, KIND_COMMIT, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, segmentName, setU64 } from "../src/format.ts";
import { RecordEncoder } from "../src/encoder.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import { SegmentScanner } from "../src/reader.ts";
import { withTempDir } from "./helpers.ts";

const DIR = "/wal";

/** `fs` with every byte read through it counted. */
function counting(inner: WalFileSystem): { fs: WalFileSystem; read: { bytes: number } } {
  const read = { bytes: 0 };
  const wrap = (file: WalFile): WalFile => ({
    append: (d) => file.append(d),
    writeAt: (d, p) => file.writeAt(d, p),
    read: (into, p) => {
      const n = file.read(into, p);
      read.bytes += n;
      return n;
    },
    datasync: () => file.datasync(),
    size: () => file.size(),
    truncate: (n) => file.truncate(n),
    close: () => file.close(),
  });
  const fs = new Proxy(inner, {
    get(target, key) {
      if (key === "openRead") return (p: string) => wrap(target.openRead(p));
      if (key === "openWrite") return (p: string, o: { create: boolean }) => wrap(target.openWrite(p, o));
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { fs, read };
}

/** A value of small little-endian u64 integers: every 8th offset reads as a plausible seq. */
function smallIntegers(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  for (let i = 0; i + 8 <= bytes; i += 8) setU64(view, i, 1 + i / 8);
  return out;
}

/** A closed log holding a few records and then `value`; returns the disk and the big record's offset and size. */
async function logWithValue(value: Uint8Array): Promise<{ disk: CrashFileSystem; file: string; at: number }> {
  const disk = new CrashFileSystem();
  const wal = await WriteAheadLog.open(DIR, { fs: disk });
  for (let i = 0; i < 3; i++) await wal.append("PUT", `k${i}`, `v${i}`);
  await wal.append("PUT", "big", value);
  await wal.close();
  const file = `${DIR}/${segmentName(1)}`;
  const bytes = disk.readFile(file);
  return { disk, file, at: bytes.length - (RECORD_HEADER_SIZE + 3 + 3 + value.length) };
}

async function bytesReadByOpen(disk: CrashFileSystem, strict: boolean): Promise<number> {
  const { fs: counted, read } = counting(disk.clone());
  const wal = await WriteAheadLog.open(DIR, { fs: counted, recovery: strict ? "strict" : "repair" });
  await wal.close();
  return read.bytes;
}

test("a torn tail costs about what a clean open of the same bytes costs (bytes read), whatever the value holds", async () => {
  const value = smallIntegers(32 * 1024);
  const { disk, file, at } = await logWithValue(value);
  const clean = await bytesReadByOpen(disk, true);
  const whole = disk.readFile(file);
  const torn = disk.clone();
  torn.overwrite(file, whole.slice(0, at + RECORD_HEADER_SIZE + value.length / 2));
  const tornRead = await bytesReadByOpen(torn, true);
  // The same torn write with its first page lost (zeros) as a power cut may leave it: the header is gone too.
  const headless = whole.slice(0, at + RECORD_HEADER_SIZE + value.length / 2);
  headless.fill(0, at, at + 4096);
  const lostPage = disk.clone();
  lostPage.overwrite(file, headless);
  const lostRead = await bytesReadByOpen(lostPage, false);
  console.log(`recovery_test: bytes read by open: clean ${clean}, torn ${tornRead}, torn with its first page lost ${lostRead}`);
  assert.ok(tornRead <= 2 * clean, `a torn open read ${tornRead} bytes, a clean one ${clean}`);
  assert.ok(lostRead <= 2 * clean, `a torn open (first page lost) read ${lostRead} bytes, a clean one ${clean}`);
});

test("a torn record whose value is another log's segment is a torn tail: strict opens, no phantom records", async () => {
  // The value: a whole segment of another log, records with seqs the torn record's successors would have.
  const other = new CrashFileSystem();
  const otherWal = await WriteAheadLog.open(DIR, { fs: other });
  for (let i = 0; i < 60; i++) await otherWal.append("PUT", `other${i}`, "x".repeat(20));
  await otherWal.close();
  const segment = other.readFile(`${DIR}/${segmentName(1)}`);
  const { disk, file, at } = await logWithValue(segment);
  const whole = disk.readFile(file);
  for (const keep of [RECORD_HEADER_SIZE + 100, RECORD_HEADER_SIZE + Math.floor(segment.length / 2), whole.length - at - 1]) {
    const torn = disk.clone();
    torn.overwrite(file, whole.slice(0, at + keep));
    const strict = await WriteAheadLog.open(DIR, { fs: torn.clone(), recovery: "strict" }).then(
      async (w) => {
        await w.close();
        return null;
      },
      (e: unknown) => e,
    );
    assert.equal(strict, null, `strict open refused a torn tail (${keep} bytes of the record kept): ${strict}`);
    const wal = await WriteAheadLog.open(DIR, { fs: torn });
    const cut = wal.recovery.actions.find((a) => a.action === "cut-tail" || a.action === "cut-damage");
    assert.equal(cut?.action, "cut-tail", JSON.stringify(wal.recovery.actions));
    assert.equal(cut.recordsDropped, 0, "no phantom records");
    assert.equal(cut.offset, at);
    assert.deepEqual((await wal.replay()).map((r) => r.key), ["k0", "k1", "k2"]);
    await wal.close();
  }
});

test("pages of a torn record's payload lost out of order: still a torn tail, in strict mode too", async () => {
  const other = new CrashFileSystem();
  const otherWal = await WriteAheadLog.open(DIR, { fs: other });
  for (let i = 0; i < 200; i++) await otherWal.append("PUT", `other${i}`, "y".repeat(40));
  await otherWal.close();
  const segment = other.readFile(`${DIR}/${segmentName(1)}`);
  const { disk, file, at } = await logWithValue(segment);
  const bytes = disk.readFile(file);
  bytes.fill(0, at + 4096, at + 8192); // a page in the middle of the value never reached the disk
  disk.overwrite(file, bytes);
  const wal = await WriteAheadLog.open(DIR, { fs: disk, recovery: "strict" });
  const cut = wal.recovery.actions.find((a) => a.action === "cut-tail");
  assert.ok(cut, JSON.stringify(wal.recovery.actions));
  assert.equal(cut.recordsDropped, 0);
  assert.equal(wal.currentSeqNum(), 3);
  await wal.close();
});

test("open removes only the log's own temporary files, and refuses a directory holding others untouched", async () => {
  for (const foreign of ["download.tmp", "notes.tmp", "00000000000000000001.tmp"]) {
    await withTempDir(async (dir) => {
      fs.writeFileSync(path.join(dir, foreign), "someone else's");
      await assert.rejects(WriteAheadLog.open(dir), (e: unknown) => e instanceof WalFormatError && e.message.includes(foreign));
      assert.deepEqual(fs.readdirSync(dir), [foreign], `${foreign} was left alone`);
    });
  }
  await withTempDir(async (dir) => {
    fs.mkdirSync(path.join(dir, "cache.tmp"));
    await assert.rejects(WriteAheadLog.open(dir), WalFormatError);
    assert.ok(fs.statSync(path.join(dir, "cache.tmp")).isDirectory(), "cache.tmp/ was left alone");
  });
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "k", "v");
    await wal.close();
    fs.writeFileSync(path.join(dir, segmentName(2) + ".tmp"), "half a rotation");
    fs.writeFileSync(path.join(dir, "TRUNCATE.tmp"), "half a truncate");
    const again = await WriteAheadLog.open(dir);
    assert.deepEqual(again.recovery.actions.map((a) => a.action), ["removed-temp-file", "removed-temp-file"]);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith(".tmp")), []);
    await again.close();
  });
});

test("a directory where the log keeps a file (a segment, TRUNCATE, LOCK) is refused with WalFormatError naming it", async () => {
  for (const name of [segmentName(5), "TRUNCATE", "LOCK"]) {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir);
      await wal.append("PUT", "k", "v");
      await wal.close();
      fs.rmSync(path.join(dir, name), { force: true });
      fs.mkdirSync(path.join(dir, name));
      const error = await WriteAheadLog.open(dir).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof WalFormatError, `${name}: ${error}`);
      assert.equal(error.file, path.join(dir, name));
      assert.match(error.message, /directory/);
    });
  }
});

test("an oversized key is reported as the key (append and batch), an oversized value as the value", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    const bigKey = "k".repeat(MAX_PAYLOAD_BYTES);
    const cases: [() => Promise<unknown>, string][] = [
      [() => wal.append("PUT", bigKey, "v"), "key"],
      [() => wal.append("PUT", "é".repeat(MAX_PAYLOAD_BYTES / 2), "v"), "key"], // too large only once encoded
      [() => wal.append("PUT", "k", new Uint8Array(MAX_PAYLOAD_BYTES)), "value"],
      [() => wal.appendBatch([["PUT", "a", "1"], ["PUT", bigKey, "2"]]), "operations[1].key"],
      [() => wal.appendBatch([["PUT", "a", new Uint8Array(MAX_PAYLOAD_BYTES)]]), "operations[0].value"],
    ];
    for (const [call, argument] of cases) {
      const error = await Promise.resolve().then(call).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof WalInvalidArgumentError, `${argument}: ${error}`);
      assert.equal(error.argument, argument);
    }
    assert.equal(await wal.append("PUT", "k", "v"), 1, "nothing was consumed");
    await wal.close();
  });
});

/** A segment (current format) named for `firstSeq` holding what `fill` encodes. */
function segmentOf(firstSeq: number, fill: (enc: RecordEncoder) => void): Uint8Array {
  const enc = new RecordEncoder();
  fill(enc);
  const out = new Uint8Array(SEGMENT_HEADER_SIZE + enc.length);
  out.set(encodeSegmentHeader(firstSeq));
  out.set(enc.bytes.subarray(0, enc.length), SEGMENT_HEADER_SIZE);
  return out;
}

test("a COMMIT without members is accepted as the first record of a segment (truncate cut its batch), nowhere else", async () => {
  // Seqs 1..3: the members and COMMIT (4) of a batch; truncate(3) keeps the COMMIT as the first record of 4.
  const first = segmentOf(4, (enc) => {
    enc.marker(4, KIND_COMMIT);
    enc.data(5, "PUT", "after", "1", false);
  });
  const disk = CrashFileSystem.from(new Map([[`${DIR}/${segmentName(4)}`, first]]), [DIR]);
  const wal = await WriteAheadLog.open(DIR, { fs: disk, recovery: "strict" });
  assert.equal(wal.recovery.clean, true);
  assert.deepEqual(await wal.replay(), [{ seqNum: 5, opType: "PUT", key: "after", value: "1" }]);
  const raw = [];
  for await (const r of wal.iterate()) raw.push(r.opType);
  assert.deepEqual(raw, ["COMMIT", "PUT"]);
  await wal.close();

  // Anywhere else in a segment, a COMMIT needs members before it.
  const later = segmentOf(4, (enc) => {
    enc.data(4, "PUT", "a", "1", false);
    enc.marker(5, KIND_COMMIT);
  });
  const file = CrashFileSystem.from(new Map([["/s", later]]));
  const handle = file.openRead("/s");
  const scanner = new SegmentScanner(handle, 4, later.length);
  assert.equal(scanner.next(), true);
  assert.equal(scanner.next(), false);
  assert.equal(scanner.stop?.reason, "COMMIT without batch members");
  handle.close();
  // And an older segment of such a log is damage when it ends in members without their COMMIT.
  const broken = new Map([
    [`${DIR}/${segmentName(1)}`, segmentOf(1, (enc) => enc.data(1, "PUT", "m", "1", true))],
    [`${DIR}/${segmentName(2)}`, segmentOf(2, (enc) => enc.marker(2, KIND_COMMIT))],
  ]);
  await assert.rejects(
    WriteAheadLog.open(DIR, { fs: CrashFileSystem.from(broken, [DIR]), recovery: "strict" }),
    WalCorruptionError,
  );
});

test("version 2 records carry syncedBack and a header checksum of their own besides the record checksum", () => {
  const enc = new RecordEncoder();
  enc.syncedThrough = 5;
  enc.data(7, "PUT", "k", "v", false);
  const bytes = enc.bytes.subarray(0, enc.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  assert.equal(bytes.length, RECORD_HEADER_SIZE + 5);
  assert.equal(view.getUint32(24, true), 2, "syncedBack = 7 - 5");
  assert.equal(view.getUint32(28, true), crc32(bytes.subarray(4, 28)), "headerCrc");
  assert.equal(view.getUint32(0, true), crc32(bytes.subarray(4)), "recordCrc");
});

test("strict mode refuses a bad record only when a later record proves its seq was durable (syncedBack)", async () => {
  // Records 1..10; record 4's header is damaged. `durable(seq)` is what the writer knew durable when encoding.
  const build = (durable: (seq: number) => number) =>
    segmentOf(1, (enc) => {
      for (let seq = 1; seq <= 10; seq++) {
        enc.syncedThrough = durable(seq);
        enc.data(seq, "PUT", `k${seq}`, "v".repeat(40), false);
      }
    });
  const recordSize = RECORD_HEADER_SIZE + 3 + 2 + 40;
  const fourth = SEGMENT_HEADER_SIZE + 3 * recordSize;
  const damaged = (bytes: Uint8Array) => {
    bytes[fourth + 20] ^= 0x10; // valueLen of seq 4
    return CrashFileSystem.from(new Map([[`${DIR}/${segmentName(1)}`, bytes]]), [DIR]);
  };
  // Each record written after an fdatasync of everything before it ("sync" mode): seq 5 vouches for seq 4.
  const synced = damaged(build((seq) => seq - 1));
  const error = await WriteAheadLog.open(DIR, { fs: synced.clone(), recovery: "strict" }).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof WalCorruptionError, `strict: ${error}`);
  assert.equal(error.offset, fourth);
  assert.equal(error.seq, 4);
  const repaired = await WriteAheadLog.open(DIR, { fs: synced });
  assert.deepEqual(repaired.recovery.actions.map((a) => [a.action, a.offset, a.recordsDropped]), [["cut-damage", fourth, 6]]);
  assert.equal(repaired.currentSeqNum(), 3);
  await repaired.close();
  // Nothing synced since seq 3 (or nothing known): records 4..10 were all in flight, and a crash can lose the
  // page holding seq 4 while keeping later ones. Strict opens; the cut is the same.
  for (const durable of [(seq: number) => Math.min(seq - 1, 3), () => 0]) {
    const disk = damaged(build(durable));
    const wal = await WriteAheadLog.open(DIR, { fs: disk, recovery: "strict" });
    assert.deepEqual(wal.recovery.actions.map((a) => [a.action, a.offset, a.recordsDropped]), [["cut-tail", fourth, 6]]);
    assert.equal(await wal.append("PUT", "next", "1"), 4, "seq 4 is handed out once: the old one left the log");
    await wal.close();
  }
});
