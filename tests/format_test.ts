// The on-disk format: golden bytes, checksum coverage, CRC agreement, segment names and headers, versions.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as zlib from "node:zlib";
import crc32Package from "crc-32";
import { WalCorruptionError, WalFormatError, WriteAheadLog } from "../mod.ts";
import { crc32 } from "../src/crc32.ts";
import { crc32Small, encodeSegmentHeader, FORMAT_VERSION, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, segmentName } from "../src/format.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
/** Version 1, as written before version 2 existed: still read. */
const goldenV1 = path.join(here, "fixtures", "golden", "00000000000000000001.wal");
/** Version 2, as the writer writes it today. */
const golden = path.join(here, "fixtures", "golden", "v2", "00000000000000000001.wal");

async function writeGoldenWorkload(wal: WriteAheadLog): Promise<void> {
  await wal.append("PUT", "k", "v");
  await wal.append("DELETE", "bytes-key", new Uint8Array([0, 1, 254, 255]));
  await wal.appendBatch([["PUT", "ünïcödé", "välue ✓"], ["AUDIT", "", ""]]);
  await wal.checkpoint();
}

const GOLDEN_RECORDS = [
  { seqNum: 1, opType: "PUT", key: "k", value: "v" },
  { seqNum: 2, opType: "DELETE", key: "bytes-key", value: new Uint8Array([0, 1, 254, 255]) },
  { seqNum: 3, opType: "PUT", key: "ünïcödé", value: "välue ✓" },
  { seqNum: 4, opType: "AUDIT", key: "", value: "" },
  { seqNum: 5, opType: "COMMIT", key: "", value: "" },
  { seqNum: 6, opType: "CHECKPOINT", key: "", value: "" },
];

test("golden segment (version 2): today's writer produces the pinned bytes, and the pinned bytes read back", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await writeGoldenWorkload(wal);
    await wal.close();
    const [written] = segmentFiles(dir);
    assert.deepEqual(new Uint8Array(fs.readFileSync(written)), new Uint8Array(fs.readFileSync(golden)));
  });
  await withTempDir(async (dir) => {
    fs.copyFileSync(golden, path.join(dir, path.basename(golden)));
    const wal = await WriteAheadLog.open(dir, { recovery: "strict" });
    assert.equal(wal.recovery.clean, true);
    const raw = [];
    for await (const r of wal.iterate()) raw.push(r);
    assert.deepEqual(raw, GOLDEN_RECORDS);
    await wal.close();
  });
});

test("golden segment (version 1) still reads; new records go to a new version-2 segment, the old one untouched", async () => {
  await withTempDir(async (dir) => {
    fs.copyFileSync(goldenV1, path.join(dir, path.basename(goldenV1)));
    const original = new Uint8Array(fs.readFileSync(goldenV1));
    const wal = await WriteAheadLog.open(dir, { recovery: "strict" });
    assert.equal(wal.recovery.clean, true);
    const raw = [];
    for await (const r of wal.iterate()) raw.push(r);
    assert.deepEqual(raw, GOLDEN_RECORDS);
    assert.equal(await wal.append("PUT", "new", "record"), 7);
    await wal.close();
    const files = segmentFiles(dir);
    assert.deepEqual(files.map((f) => path.basename(f)), [path.basename(goldenV1), segmentName(7)]);
    assert.deepEqual(new Uint8Array(fs.readFileSync(files[0])), original, "the version-1 segment is unchanged");
    const head = new Uint8Array(fs.readFileSync(files[1]));
    assert.equal(head[8], 2, "the new segment is version 2");
    const again = await WriteAheadLog.open(dir, { recovery: "strict" });
    assert.equal(again.recovery.clean, true);
    assert.deepEqual((await again.replay()).map((r) => r.seqNum), [1, 2, 3, 4, 7]);
    await again.close();
  });
  // A version-1 newest segment with no record is replaced by a version-2 one of the same name.
  await withTempDir(async (dir) => {
    fs.writeFileSync(path.join(dir, segmentName(1)), encodeSegmentHeader(1, 1));
    const wal = await WriteAheadLog.open(dir);
    assert.equal(await wal.append("PUT", "k", "v"), 1);
    await wal.close();
    assert.deepEqual(segmentFiles(dir).map((f) => path.basename(f)), [segmentName(1)]);
    assert.equal(fs.readFileSync(segmentFiles(dir)[0])[8], 2);
  });
  // A torn tail in a version-1 segment is cut as before.
  await withTempDir(async (dir) => {
    const bytes = new Uint8Array(fs.readFileSync(goldenV1));
    fs.writeFileSync(path.join(dir, path.basename(goldenV1)), bytes.subarray(0, bytes.length - 30));
    const wal = await WriteAheadLog.open(dir, { recovery: "strict" });
    assert.equal(wal.recovery.actions[0].action, "cut-tail");
    assert.deepEqual((await wal.replay()).map((r) => r.seqNum), [1, 2]);
    await wal.close();
  });
});

test("CRC-32: node:zlib and the crc-32 package agree, and the library uses the same values", () => {
  let state = 12345;
  for (let n = 0; n < 300; n += 7) {
    const data = new Uint8Array(n).map(() => (state = (state * 1103515245 + 12345) >>> 0) >>> 24);
    const expected = crc32Package.buf(data) >>> 0;
    assert.equal(crc32(data), expected);
    assert.equal(crc32Small(data, 0, data.length), expected, "the table loop used for record headers");
    if (typeof zlib.crc32 === "function") assert.equal(zlib.crc32(data), expected);
  }
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

test("the header checksum covers every header byte: a flip in any field drops the record", async () => {
  for (let offset = 4; offset < RECORD_HEADER_SIZE; offset++) {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir);
      await wal.append("PUT", "keep", "1");
      await wal.append("PUT", "last", "2");
      await wal.close();
      const [file] = segmentFiles(dir);
      const bytes = new Uint8Array(fs.readFileSync(file));
      const lastStart = bytes.length - (RECORD_HEADER_SIZE + 3 + 4 + 1);
      assert.equal(bytes.length, SEGMENT_HEADER_SIZE + 2 * (RECORD_HEADER_SIZE + 3 + 4 + 1));
      bytes[lastStart + offset] ^= 0x01;
      fs.writeFileSync(file, bytes);
      const reopened = await WriteAheadLog.open(dir);
      assert.deepEqual((await reopened.replay()).map((r) => r.key), ["keep"], `flip at header byte ${offset}`);
      assert.equal(reopened.currentSeqNum(), 1);
      await reopened.close();
    });
  }
});

test("segment names: 20 digits of the first seq + .wal; every segment starts with its header", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 0; i < 50; i++) await wal.append("PUT", `k${i}`, "v".repeat(150));
    const files = segmentFiles(dir);
    assert.ok(files.length > 1);
    let expectedFirst = 1;
    for (const file of files) {
      const name = path.basename(file);
      assert.match(name, /^\d{20}\.wal$/);
      const firstSeq = Number(name.slice(0, 20));
      assert.equal(name, segmentName(firstSeq));
      assert.equal(firstSeq, expectedFirst, "each segment starts where the previous ended");
      const head = new Uint8Array(fs.readFileSync(file)).subarray(0, SEGMENT_HEADER_SIZE);
      assert.equal(new TextDecoder().decode(head.subarray(0, 8)), "JSWALSEG");
      assert.equal(new DataView(head.buffer, head.byteOffset).getUint32(12, true), firstSeq);
      expectedFirst = firstSeq + countIn(file);
    }
    // Only segments end in .wal: the lock file and the seals of rotated segments are named otherwise.
    const others = fs.readdirSync(dir).filter((n) => !n.endsWith(".wal"));
    assert.ok(others.every((n) => n === "LOCK" || /^\d{20}\.seal$/.test(n)), others.join(" "));
    await wal.close();
  });
});

function countIn(file: string): number {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const view = new DataView(bytes.buffer);
  let at = SEGMENT_HEADER_SIZE;
  let n = 0;
  while (at + RECORD_HEADER_SIZE <= bytes.length) {
    at += RECORD_HEADER_SIZE + view.getUint16(at + 14, true) + view.getUint32(at + 16, true) + view.getUint32(at + 20, true);
    n++;
  }
  return n;
}

test("a segment of a newer format version is refused in every mode, and left untouched", async () => {
  for (const options of [{}, { recovery: "strict" as const }, { verify: "tail" as const }]) {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir);
      await wal.append("PUT", "k", "v");
      await wal.close();
      const [file] = segmentFiles(dir);
      const bytes = new Uint8Array(fs.readFileSync(file));
      bytes[8] = FORMAT_VERSION + 1; // a newer version, with its header checksum made valid as a newer writer would
      new DataView(bytes.buffer).setUint32(28, crc32(bytes.subarray(0, 28)), true);
      fs.writeFileSync(file, bytes);
      await assert.rejects(WriteAheadLog.open(dir, options), (e: unknown) => {
        assert.ok(e instanceof WalFormatError);
        assert.match(e.message, new RegExp(`version ${FORMAT_VERSION + 1} is newer`));
        return true;
      });
      assert.deepEqual(new Uint8Array(fs.readFileSync(file)), bytes);
    });
  }
});

test("a version field damaged to read newer (its header checksum broken) is damage, not a newer format", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 0; i < 40; i++) await wal.append("PUT", `k${i}`, "v".repeat(150));
    await wal.close();
    const files = segmentFiles(dir);
    const bytes = new Uint8Array(fs.readFileSync(files[1]));
    bytes[8] ^= 0x04; // version 2 -> 6, checksum now wrong
    fs.writeFileSync(files[1], bytes);
    await assert.rejects(WriteAheadLog.open(dir, { recovery: "strict" }), WalCorruptionError);
    const repaired = await WriteAheadLog.open(dir);
    const records = await repaired.replay();
    assert.equal(records.length, Number(path.basename(files[1]).slice(0, 20)) - 1, "the first segment survives whole");
    await repaired.close();
  });
});

test("a directory that is not a log is refused; a segment-named foreign file is damage, kept in quarantine", async () => {
  await withTempDir(async (dir) => {
    fs.writeFileSync(path.join(dir, "notes.txt"), "someone else's directory");
    await assert.rejects(WriteAheadLog.open(dir), (e: unknown) => e instanceof WalFormatError && /notes\.txt/.test(e.message));
    assert.deepEqual(fs.readdirSync(dir), ["notes.txt"], "nothing was created");
  });
  await withTempDir(async (dir) => {
    const foreign = path.join(dir, "00000000000000000001.wal");
    fs.writeFileSync(foreign, "this is not a WAL segment at all, just text");
    await assert.rejects(WriteAheadLog.open(dir, { recovery: "strict" }), WalCorruptionError);
    const wal = await WriteAheadLog.open(dir);
    const moved = wal.recovery.actions.find((a) => a.action === "quarantined-segment");
    assert.ok(moved?.quarantineFile && fs.readFileSync(moved.quarantineFile, "utf8").startsWith("this is not"));
    assert.equal(await wal.append("PUT", "k", "v"), 1);
    await wal.close();
  });
  await withTempDir(async (dir) => {
    fs.writeFileSync(path.join(dir, "journal.wal"), "another program's file");
    await assert.rejects(WriteAheadLog.open(dir), WalFormatError);
  });
  await withTempDir(async (dir) => {
    const file = path.join(dir, "plain-file");
    fs.writeFileSync(file, "x");
    await assert.rejects(WriteAheadLog.open(file), (e: unknown) => e instanceof WalFormatError && /not a directory/.test(e.message));
    await assert.rejects(WriteAheadLog.open(path.join(file, "below")), WalFormatError);
  });
});
