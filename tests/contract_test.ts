// The ten points of the behavioural contract (issue 2), each as its own test.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { WriteAheadLog } from "../mod.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

test("1. seqs are contiguous from 1; a batch uses one per op plus its COMMIT; a checkpoint one", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    assert.equal(await wal.append("PUT", "a", "1"), 1);
    assert.equal(await wal.append("PUT", "b", "2"), 2);
    assert.equal(await wal.append("DELETE", "a"), 3);
    assert.equal(await wal.appendBatch([["PUT", "c", "3"], ["PUT", "d", "4"], ["DELETE", "b", ""]]), 7);
    assert.equal(wal.currentSeqNum(), 7);
    assert.equal(await wal.checkpoint(), 8);
    const records = await wal.replay();
    assert.deepEqual(records.map((r) => r.seqNum), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual((await wal.replay({ afterSeq: 8 })).length, 0);
    await wal.close();
  });
});

test("2. reopening without close recovers every resolved sync append; numbering resumes", async () => {
  await withTempDir(async (dir) => {
    const first = await WriteAheadLog.open(dir);
    for (let i = 0; i < 20; i++) await first.append("PUT", `k${i}`, `v${i}`);
    await first.appendBatch([["PUT", "x", "1"], ["PUT", "y", "2"]]);
    // No close: the handle is abandoned as a crash would leave it.
    const second = await WriteAheadLog.open(dir);
    const records = await second.replay();
    assert.equal(records.length, 22);
    assert.deepEqual(records[19], { seqNum: 20, opType: "PUT", key: "k19", value: "v19" });
    assert.equal(second.currentSeqNum(), 23);
    assert.equal(await second.append("PUT", "after", "crash"), 24);
    await second.close();
  });
});

test("3. damaged bytes at the end of a segment: replay returns the records before, without throwing", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 5; i++) await wal.append("PUT", `k${i}`, `value-${i}`);
    await wal.close();
    const [segment] = segmentFiles(dir);
    const size = fs.statSync(segment).size;
    // Damage the last record's value bytes in place, then add junk after it.
    const fd = fs.openSync(segment, "r+");
    fs.writeSync(fd, new Uint8Array([0xff, 0xee, 0xdd]), 0, 3, size - 3);
    fs.writeSync(fd, new Uint8Array([1, 2, 3, 4, 5, 6, 7]), 0, 7, size);
    fs.closeSync(fd);
    const reopened = await WriteAheadLog.open(dir);
    const records = await reopened.replay();
    assert.deepEqual(records.map((r) => r.key), ["k1", "k2", "k3", "k4"]);
    assert.equal(reopened.recovery.clean, false);
    assert.equal(await reopened.append("PUT", "k5b", "new"), 5);
    assert.deepEqual((await reopened.replay()).map((r) => r.key), ["k1", "k2", "k3", "k4", "k5b"]);
    await reopened.close();
  });
});

test("4. truncate(n) removes every record with seq <= n and keeps the rest with their seqs", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `v${i}`);
    await wal.truncate(4);
    assert.deepEqual((await wal.replay()).map((r) => r.seqNum), [5, 6, 7, 8, 9, 10]);
    assert.deepEqual((await wal.replay())[0], { seqNum: 5, opType: "PUT", key: "k5", value: "v5" });
    await wal.close();
    const reopened = await WriteAheadLog.open(dir);
    assert.deepEqual((await reopened.replay()).map((r) => r.seqNum), [5, 6, 7, 8, 9, 10]);
    assert.equal(await reopened.append("PUT", "k11", "v11"), 11);
    await reopened.close();
  });
});

test("5. past maxFileSize the log rotates into several .wal files; replay spans them", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    const value = "x".repeat(200);
    for (let i = 1; i <= 100; i++) await wal.append("PUT", `key-${i}`, value);
    const files = segmentFiles(dir);
    assert.ok(files.length >= 5, `expected several segments, got ${files.length}`);
    for (const f of files) assert.ok(fs.statSync(f).size <= 4096, `${f} exceeds maxFileSize`);
    const records = await wal.replay();
    assert.deepEqual(records.map((r) => r.seqNum), Array.from({ length: 100 }, (_, i) => i + 1));
    await wal.close();
  });
});

test("6. iterate yields COMMIT markers; replay never does", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "a", "1");
    await wal.appendBatch([["PUT", "b", "2"], ["PUT", "c", "3"]]);
    const raw = [];
    for await (const r of wal.iterate()) raw.push(r);
    assert.equal(raw.length, 4);
    assert.equal(raw[3].opType, "COMMIT");
    assert.equal(raw[3].seqNum, 4);
    assert.ok((await wal.replay()).every((r) => r.opType !== "COMMIT" && r.opType !== "CHECKPOINT"));
    await wal.close();
  });
});

test("7. a fresh log: currentSeqNum is 0 and replay returns nothing", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    assert.equal(wal.currentSeqNum(), 0);
    assert.deepEqual(await wal.replay(), []);
    const streamed = [];
    for await (const r of wal.replayStream()) streamed.push(r);
    assert.deepEqual(streamed, []);
    await wal.close();
  });
});

test("8. 100 KB values round-trip exactly, as text and as bytes", async () => {
  await withTempDir(async (dir) => {
    const text = Array.from({ length: 100 * 1024 }, (_, i) => String.fromCharCode(33 + (i * 7) % 90)).join("");
    const bytes = new Uint8Array(100 * 1024).map((_, i) => (i * 31 + 7) & 0xff);
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "text", text);
    await wal.append("PUT", "bytes", bytes);
    await wal.close();
    const reopened = await WriteAheadLog.open(dir);
    const [a, b] = await reopened.replay();
    assert.equal(a.value, text);
    assert.ok(b.value instanceof Uint8Array);
    assert.deepEqual(b.value, bytes);
    await reopened.close();
  });
});

test("9. replay({ afterSeq }) is exclusive", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 1; i <= 60; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
    assert.deepEqual((await wal.replay({ afterSeq: 3 })).map((r) => r.seqNum).slice(0, 2), [4, 5]);
    assert.deepEqual((await wal.replay({ afterSeq: 59 })).map((r) => r.seqNum), [60]);
    assert.deepEqual((await wal.replay({ afterSeq: 60 })).length, 0);
    const cp = await wal.checkpoint();
    await wal.append("PUT", "after-cp", "1");
    assert.deepEqual((await wal.replay({ afterSeq: cp })).map((r) => r.key), ["after-cp"]);
    await wal.close();
  });
});

test("10. seqs never reset across close and reopen, including after truncate removed everything", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 5; i++) await wal.append("PUT", `k${i}`, "v");
    await wal.close();
    wal = await WriteAheadLog.open(dir);
    assert.equal(wal.currentSeqNum(), 5);
    await wal.truncate(5);
    assert.deepEqual(await wal.replay(), []);
    assert.equal(wal.currentSeqNum(), 5);
    await wal.close();
    wal = await WriteAheadLog.open(dir);
    assert.equal(wal.currentSeqNum(), 5);
    assert.equal(await wal.append("PUT", "k6", "v"), 6);
    await wal.truncate(1000);
    await wal.close();
    wal = await WriteAheadLog.open(dir);
    assert.equal(wal.currentSeqNum(), 6);
    assert.equal(await wal.append("PUT", "k7", "v"), 7);
    await wal.close();
  });
});
