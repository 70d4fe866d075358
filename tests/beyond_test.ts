// What the core promises beyond the ten contract points: atomic batches, group commit, sync modes, verification
// on open, segment skipping, the size bound, and both file-system adapters.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { WalCorruptionError, WriteAheadLog } from "../mod.ts";
import type { WalFileSystem } from "../mod.ts";
import { RecordEncoder } from "../src/encoder.ts";
import { KIND_COMMIT, RECORD_HEADER_SIZE } from "../src/format.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { runtimeName, segmentFiles, withTempDir } from "./helpers.ts";

/** A file system that counts datasyncs and opened paths, delegating to the real one. */
function countingFs(base: WalFileSystem): { fs: WalFileSystem; datasyncs: () => number; opened: string[] } {
  let datasyncs = 0;
  const opened: string[] = [];
  const fs: WalFileSystem = {
    ...base,
    openRead(p) {
      opened.push(p);
      return base.openRead(p);
    },
    openWrite(p, o) {
      const file = base.openWrite(p, o);
      return {
        append: (d) => file.append(d),
        writeAt: (d, at) => file.writeAt(d, at),
        read: (i, p2) => file.read(i, p2),
        datasync() {
          datasyncs++;
          file.datasync();
        },
        size: () => file.size(),
        truncate: (l) => file.truncate(l),
        close: () => file.close(),
      };
    },
  };
  return { fs, datasyncs: () => datasyncs, opened };
}

test("atomic batch: members on disk without their COMMIT are never replayed, and open cuts them", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "solo", "1");
    await wal.appendBatch([["PUT", "b1", "x"], ["PUT", "b2", "y"]]);
    await wal.close();
    // Write a batch's members through the format code, as a crash before the COMMIT would leave them.
    const enc = new RecordEncoder();
    enc.data(5, "PUT", "orphan-1", "lost", true);
    enc.data(6, "PUT", "orphan-2", "lost", true);
    const [segment] = segmentFiles(dir);
    fs.appendFileSync(segment, enc.bytes.subarray(0, enc.length));
    const reopened = await WriteAheadLog.open(dir);
    assert.deepEqual((await reopened.replay()).map((r) => r.key), ["solo", "b1", "b2"]);
    const cut = reopened.recovery.actions.find((a) => a.action === "cut-tail");
    assert.ok(cut, "recovery reports the cut");
    assert.equal(cut.recordsDropped, 2);
    assert.ok(cut.quarantineFile && fs.existsSync(cut.quarantineFile), "the cut bytes were kept");
    assert.equal(fs.statSync(cut.quarantineFile).size, enc.length);
    assert.equal(await reopened.append("PUT", "next", "1"), 5, "the orphans' seqs are handed out again");
    assert.deepEqual((await reopened.replay()).map((r) => r.key), ["solo", "b1", "b2", "next"]);
    await reopened.close();
  });
});

test("atomic batch: the same members followed by their COMMIT are replayed; standalone appends need none", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "solo", "1");
    await wal.close();
    const enc = new RecordEncoder();
    enc.data(2, "PUT", "m1", "a", true);
    enc.data(3, "PUT", "m2", "b", true);
    enc.marker(4, KIND_COMMIT);
    fs.appendFileSync(segmentFiles(dir)[0], enc.bytes.subarray(0, enc.length));
    const reopened = await WriteAheadLog.open(dir);
    assert.equal(reopened.recovery.clean, true);
    assert.deepEqual((await reopened.replay()).map((r) => r.key), ["solo", "m1", "m2"]);
    await reopened.close();
  });
});

test("group commit: 256 un-awaited appends share a handful of fsyncs and keep call order", async () => {
  await withTempDir(async (dir) => {
    const counting = countingFs(nodeFileSystem);
    const wal = await WriteAheadLog.open(dir, { fs: counting.fs });
    const before = counting.datasyncs();
    const promises = [];
    for (let i = 0; i < 256; i++) promises.push(wal.append("PUT", `k${i}`, `v${i}`));
    const seqs = await Promise.all(promises);
    const fsyncs = counting.datasyncs() - before;
    console.log(`group commit: 256 concurrent appends took ${fsyncs} fsync(s), ${wal.stats().groups} group(s)`);
    assert.deepEqual(seqs, Array.from({ length: 256 }, (_, i) => i + 1));
    assert.ok(fsyncs >= 1 && fsyncs <= 8, `expected far fewer than 256 fsyncs, got ${fsyncs}`);
    const records = await wal.replay();
    assert.deepEqual(records.map((r) => r.key), Array.from({ length: 256 }, (_, i) => `k${i}`));
    await wal.close();
  });
});

test("sync mode fsyncs before each append resolves; none mode only on sync() and close()", async () => {
  await withTempDir(async (dir) => {
    const counting = countingFs(nodeFileSystem);
    const wal = await WriteAheadLog.open(dir, { fs: counting.fs });
    const start = counting.datasyncs();
    for (let i = 0; i < 5; i++) await wal.append("PUT", "k", "v");
    assert.equal(counting.datasyncs() - start, 5);
    await wal.close();
  });
  await withTempDir(async (dir) => {
    const counting = countingFs(nodeFileSystem);
    const wal = await WriteAheadLog.open(dir, { fs: counting.fs, syncMode: "none" });
    const start = counting.datasyncs();
    for (let i = 0; i < 50; i++) await wal.append("PUT", "k", "v");
    assert.equal(counting.datasyncs() - start, 0);
    await wal.appendBatch([["PUT", "a", "b"]]);
    assert.equal(counting.datasyncs() - start, 1, "appendBatch always fsyncs");
    await wal.checkpoint();
    assert.equal(counting.datasyncs() - start, 2, "checkpoint always fsyncs");
    await wal.sync();
    assert.equal(counting.datasyncs() - start, 3);
    await wal.close();
  });
});

test("batch mode fsyncs every batchSyncCount records and after batchSyncIntervalMs", async () => {
  await withTempDir(async (dir) => {
    const counting = countingFs(nodeFileSystem);
    const wal = await WriteAheadLog.open(dir, { fs: counting.fs, syncMode: "batch", batchSyncCount: 10, batchSyncIntervalMs: 20 });
    const start = counting.datasyncs();
    for (let i = 0; i < 25; i++) await wal.append("PUT", "k", "v");
    assert.equal(counting.datasyncs() - start, 2, "after records 10 and 20");
    // The remaining 5 are synced by the timer.
    for (let waited = 0; waited < 100 && counting.datasyncs() - start < 3; waited++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(counting.datasyncs() - start, 3);
    await wal.close();
  });
});

test("open verifies every record by default: damage in an older segment is found and repaired", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 1; i <= 60; i++) await wal.append("PUT", `k${i}`, "v".repeat(150));
    await wal.close();
    const files = segmentFiles(dir);
    assert.ok(files.length >= 3);
    const bytes = new Uint8Array(fs.readFileSync(files[0]));
    bytes[bytes.length - 5] ^= 0x40; // inside the last record's value
    fs.writeFileSync(files[0], bytes);

    const strict = await WriteAheadLog.open(dir, { recovery: "strict" }).then(() => null, (e: unknown) => e);
    assert.ok(strict instanceof WalCorruptionError, `strict open: ${strict}`);
    assert.equal(strict.file, files[0]);
    assert.deepEqual(segmentFiles(dir), files, "strict changed nothing");

    const repaired = await WriteAheadLog.open(dir);
    const records = await repaired.replay();
    const lastGood = records[records.length - 1].seqNum;
    assert.deepEqual(records.map((r) => r.seqNum), Array.from({ length: lastGood }, (_, i) => i + 1));
    assert.ok(repaired.recovery.actions.some((a) => a.action === "cut-damage"));
    assert.ok(repaired.recovery.actions.some((a) => a.action === "quarantined-segment"));
    assert.equal(segmentFiles(dir).length, 1);
    assert.equal(await repaired.append("PUT", "again", "1"), lastGood + 1);
    await repaired.close();
  });
});

test("verify: 'tail' skips older segments on open; a read finds the damage and appends stop until reopen", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 1; i <= 60; i++) await wal.append("PUT", `k${i}`, "v".repeat(150));
    await wal.close();
    const files = segmentFiles(dir);
    const bytes = new Uint8Array(fs.readFileSync(files[0]));
    bytes[bytes.length - 5] ^= 0x40;
    fs.writeFileSync(files[0], bytes);

    const counting = countingFs(nodeFileSystem);
    const tail = await WriteAheadLog.open(dir, { verify: "tail", fs: counting.fs });
    assert.equal(tail.recovery.clean, true);
    assert.equal(tail.recovery.segmentsVerified, 1, "only the newest segment was read");
    await assert.rejects(tail.replay(), WalCorruptionError);
    await assert.rejects(tail.append("PUT", "x", "y"), WalCorruptionError);
    await tail.close();

    const reopened = await WriteAheadLog.open(dir);
    assert.equal(reopened.recovery.clean, false);
    assert.ok((await reopened.replay()).length < 60);
    await reopened.close();
  });
});

test("replay({ afterSeq }) opens no segment that ends before afterSeq", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 1; i <= 100; i++) await wal.append("PUT", `k${i}`, "v".repeat(150));
    await wal.close();
    const files = segmentFiles(dir);
    const counting = countingFs(nodeFileSystem);
    const reopened = await WriteAheadLog.open(dir, { fs: counting.fs, verify: "tail" });
    counting.opened.length = 0;
    const records = await reopened.replay({ afterSeq: 95 });
    assert.deepEqual(records.map((r) => r.seqNum), [96, 97, 98, 99, 100]);
    assert.ok(counting.opened.length <= 2, `opened ${counting.opened.length} of ${files.length} segments`);
    await reopened.close();
  });
});

test("maxFileSize is a bound: only a single oversize batch exceeds it; a batch never spans segments", async () => {
  await withTempDir(async (dir) => {
    const max = 4096;
    const wal = await WriteAheadLog.open(dir, { maxFileSize: max });
    for (let i = 0; i < 30; i++) await wal.append("PUT", `a${i}`, "v".repeat(100));
    const big = Array.from({ length: 40 }, (_, i) => ["PUT", `big${i}`, "w".repeat(200)] as [string, string, string]);
    const commit = await wal.appendBatch(big);
    for (let i = 0; i < 30; i++) await wal.appendBatch([["PUT", `c${i}`, "z".repeat(300)], ["DELETE", `d${i}`]]);
    await wal.close();
    const files = segmentFiles(dir);
    const oversize = files.filter((f) => fs.statSync(f).size > max);
    assert.equal(oversize.length, 1, "only the segment of the oversize batch exceeds the bound");
    assert.equal(Number(oversize[0].slice(-24, -4)), commit - 40, "the oversize batch starts its own segment");
    const reopened = await WriteAheadLog.open(dir);
    assert.equal(reopened.recovery.clean, true, "every segment holds whole batches only");
    assert.equal((await reopened.replay()).length, 30 + 40 + 60);
    await reopened.close();
  });
});

test("values: strings come back as strings, Uint8Arrays as Uint8Arrays, empty ones too", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    const values: (string | Uint8Array)[] = ["", new Uint8Array(0), "text ✓ 😀", new Uint8Array([0, 255, 10]), "\u0000nul"];
    for (const v of values) await wal.append("PUT", "k", v);
    await wal.close();
    const reopened = await WriteAheadLog.open(dir);
    const got = (await reopened.replay()).map((r) => r.value);
    assert.deepEqual(got, values);
    assert.equal(typeof got[0], "string");
    assert.ok(got[1] instanceof Uint8Array);
    await reopened.close();
  });
});

test("replayStream gives the same committed records as replay", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 0; i < 40; i++) {
      await wal.append("PUT", `k${i}`, "v".repeat(i * 5));
      if (i % 7 === 0) await wal.appendBatch([["PUT", `b${i}`, "x"], ["DELETE", `c${i}`]]);
      if (i % 11 === 0) await wal.checkpoint();
    }
    const streamed = [];
    for await (const r of wal.replayStream({ afterSeq: 10 })) streamed.push(r);
    assert.deepEqual(streamed, await wal.replay({ afterSeq: 10 }));
    await wal.close();
  });
});

test("the Deno-native adapter passes the same round trip (Deno only) and the node:fs one everywhere", async () => {
  const adapters: [string, () => Promise<WalFileSystem>][] = [["node:fs", () => Promise.resolve(nodeFileSystem)]];
  if (runtimeName() === "deno") {
    adapters.push(["deno", async () => (await import("../src/io/deno_fs.ts")).createDenoFileSystem()]);
  }
  for (const [name, make] of adapters) {
    await withTempDir(async (dir) => {
      const adapter = await make();
      const wal = await WriteAheadLog.open(dir, { fs: adapter, maxFileSize: 4096 });
      for (let i = 1; i <= 40; i++) await wal.append("PUT", `k${i}`, new Uint8Array(150).fill(i));
      await wal.appendBatch([["PUT", "b", "1"], ["DELETE", "c"]]);
      await wal.truncate(10);
      await wal.close();
      const again = await WriteAheadLog.open(dir, { fs: adapter });
      const records = await again.replay();
      assert.equal(records.length, 32, name);
      assert.deepEqual(records[0].value, new Uint8Array(150).fill(11), name);
      assert.equal(again.currentSeqNum(), 43, name);
      await again.close();
    });
  }
});

test("open reads each byte once in bounded chunks; rotation and truncate fsync the directory", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none" });
    const value = new Uint8Array(64 * 1024).fill(7);
    const pending = [];
    for (let i = 0; i < 160; i++) pending.push(wal.append("PUT", `k${i}`, value)); // ~10 MiB in one segment
    await Promise.all(pending);
    await wal.close();
    const size = fs.statSync(segmentFiles(dir)[0]).size;
    let largestRead = 0;
    let totalRead = 0;
    const reading: WalFileSystem = {
      ...nodeFileSystem,
      openRead(p) {
        const file = nodeFileSystem.openRead(p);
        return {
          ...file,
          read(into, position) {
            largestRead = Math.max(largestRead, into.length);
            const n = file.read(into, position);
            totalRead += n;
            return n;
          },
          size: () => file.size(),
          close: () => file.close(),
        };
      },
    };
    const reopened = await WriteAheadLog.open(dir, { fs: reading });
    assert.ok(largestRead <= 4 * 1024 * 1024, `largest read ${largestRead}`);
    assert.ok(totalRead >= size && totalRead < size + 64 * 1024 * 1024 / 16, `read ${totalRead} of ${size}`);
    await reopened.close();
  });
  await withTempDir(async (dir) => {
    let dirSyncs = 0;
    const counting: WalFileSystem = { ...nodeFileSystem, syncDir: (d) => (dirSyncs++, nodeFileSystem.syncDir(d)) };
    const wal = await WriteAheadLog.open(dir, { fs: counting, maxFileSize: 4096 });
    const afterOpen = dirSyncs;
    for (let i = 0; i < 30; i++) await wal.append("PUT", `k${i}`, "v".repeat(300));
    const segments = segmentFiles(dir).length;
    assert.ok(segments > 1);
    assert.ok(dirSyncs - afterOpen >= segments - 1, "each new segment's creation was made durable");
    const beforeTruncate = dirSyncs;
    await wal.truncate(20);
    assert.ok(dirSyncs > beforeTruncate, "truncate's deletions were made durable");
    await wal.close();
  });
});

test("a flipped length field mid-newest-segment is damage, not a torn tail: strict refuses, repair reports it", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, "v".repeat(40));
    await wal.close();
    const [file] = segmentFiles(dir);
    const bytes = new Uint8Array(fs.readFileSync(file));
    const recordSize = RECORD_HEADER_SIZE + 3 + 2 + 40; // header, "PUT", "kN", value
    const fourth = 32 + 3 * recordSize;
    bytes[fourth + 20] ^= 0x10; // valueLen of seq 4
    fs.writeFileSync(file, bytes);
    const strict = await WriteAheadLog.open(dir, { recovery: "strict" }).then(() => null, (e: unknown) => e);
    assert.ok(strict instanceof WalCorruptionError, `strict: ${strict}`);
    assert.equal(strict.offset, fourth);
    assert.equal(strict.seq, 4);
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)), bytes, "strict changed nothing");
    const repaired = await WriteAheadLog.open(dir);
    assert.deepEqual((await repaired.replay()).map((r) => r.seqNum), [1, 2, 3]);
    const cut = repaired.recovery.actions.find((a) => a.action === "cut-damage");
    assert.ok(cut, JSON.stringify(repaired.recovery.actions));
    assert.equal(cut.recordsDropped, 6, "seqs 5..10 were valid and left the log");
    await repaired.close();
  });
});

test("segments are preallocated while open, trimmed on close, and a crash's zeros are cut and reported", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 8 * 1024 * 1024 });
    for (let i = 0; i < 10; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
    const [file] = segmentFiles(dir);
    const dataEnd = 32 + 10 * (RECORD_HEADER_SIZE + 3 + 2 + 100);
    assert.ok(fs.statSync(file).size > dataEnd, "zeros were preallocated after the records");
    // Abandon the handle as a crash would; the new handle finds the zeros, cuts and reports them.
    const reopened = await WriteAheadLog.open(dir);
    const cut = reopened.recovery.actions.find((a) => a.action === "cut-zeros");
    assert.ok(cut, JSON.stringify(reopened.recovery.actions));
    assert.equal(cut.offset, dataEnd);
    assert.equal(fs.statSync(file).size, dataEnd);
    assert.equal((await reopened.replay()).length, 10);
    assert.equal(await reopened.append("PUT", "after", "1"), 11);
    await reopened.close();
    assert.equal(fs.statSync(file).size, dataEnd + RECORD_HEADER_SIZE + 3 + 5 + 1, "close trims the preallocation");
    const clean = await WriteAheadLog.open(dir);
    assert.equal(clean.recovery.clean, true);
    await clean.close();
  });
});

test("reads check seqs too: a well-checksummed record with the wrong seq in an unverified segment stops a read", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 1; i <= 40; i++) await wal.append("PUT", `k${String(i).padStart(2, "0")}`, "v".repeat(150));
    await wal.close();
    const [first] = segmentFiles(dir);
    // Re-encode seq 3 as seq 4 with a valid checksum: only the seq rule can catch it.
    const enc = new RecordEncoder();
    enc.data(4, "PUT", "k03", "v".repeat(150), false);
    const bytes = new Uint8Array(fs.readFileSync(first));
    const recordSize = RECORD_HEADER_SIZE + 3 + 3 + 150;
    assert.equal(enc.length, recordSize);
    bytes.set(enc.bytes.subarray(0, enc.length), 32 + 2 * recordSize);
    fs.writeFileSync(first, bytes);
    const tail = await WriteAheadLog.open(dir, { verify: "tail" });
    await assert.rejects(tail.replay(), (e: unknown) => e instanceof WalCorruptionError && /seq 4 where 3/.test(e.message));
    await tail.close();
    const iterating = await WriteAheadLog.open(dir, { verify: "tail" });
    await assert.rejects(async () => {
      for await (const _ of iterating.iterate()) { /* drain */ }
    }, WalCorruptionError);
    await iterating.close();
    // Full verification on open finds the same record and keeps what precedes it, checking record by record. (The
    // segment's seal does not see this edit: the seq and the header checksum rewritten together are a CRC-32
    // codeword, which no CRC-32 over the whole file can tell; seal_test covers that limit.)
    fs.rmSync(first.replace(/\.wal$/, ".seal"));
    await assert.rejects(WriteAheadLog.open(dir, { recovery: "strict" }), /seq 4 where 3/);
    const repaired = await WriteAheadLog.open(dir);
    assert.deepEqual((await repaired.replay()).map((r) => r.seqNum), [1, 2]);
    await repaired.close();
  });
});

test("Symbol.asyncDispose closes the log (for `await using`)", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "k", "v");
    await wal[Symbol.asyncDispose]();
    await assert.rejects(wal.append("PUT", "k", "v"), /closed/);
    const again = await WriteAheadLog.open(dir);
    assert.equal(again.recovery.clean, true, "it was closed cleanly, lock released");
    await again.close();
  });
});
