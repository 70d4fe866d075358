/**
 * `WriteAheadLog.openReadOnly`: reads what `open` would keep, reports what `open` would do, changes nothing
 * (no byte, no file, no lock), and works beside a live writer in another process. Also: `maxFileSize` accepts
 * small bounds (a segment per record).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { WalFormatError, WalLockedError, WalReadError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { runtime } from "../src/io/runtime.ts";
import { payloadFor } from "./fixtures/child_writer.ts";
import { startWriter } from "./fixtures/live_writer.ts";
import { segmentFiles, tempDir, removeDir, withTempDir } from "./helpers.ts";

/** Every file of a directory with its bytes: what "changed nothing" is checked against. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of fs.readdirSync(dir).sort()) files.set(name, fs.readFileSync(path.join(dir, name)).toString("base64"));
  return files;
}

async function writeLog(dir: string, maxFileSize = 300): Promise<WalRecord[]> {
  const wal = await WriteAheadLog.open(dir, { maxFileSize });
  await wal.append("PUT", "user:1", "alice");
  await wal.append("PUT", "bytes", new Uint8Array([0, 1, 2, 255]));
  await wal.appendBatch([["PUT", "a", "1"], ["DELETE", "b"]]);
  await wal.checkpoint();
  for (let i = 0; i < 12; i++) await wal.append("PUT", `k${i}`, "v".repeat(40 + i));
  const records = await wal.replay();
  await wal.close();
  return records;
}

test("openReadOnly on a clean log: the same records as open, a clean report, not a byte changed", async () => {
  await withTempDir(async (dir) => {
    const expected = await writeLog(dir);
    const before = snapshot(dir);
    const log = await WriteAheadLog.openReadOnly(dir);
    assert.equal(log.damage, null);
    assert.equal(log.recovery.clean, true);
    assert.equal(log.currentSeqNum(), 18);
    assert.deepEqual(await log.replay(), expected);
    const streamed: WalRecord[] = [];
    for await (const r of log.replayStream({ afterSeq: 5 })) streamed.push(r);
    assert.deepEqual(streamed, expected.filter((r) => r.seqNum > 5));
    const all: string[] = [];
    for await (const r of log.iterate()) all.push(`${r.seqNum}:${r.opType}`);
    assert.deepEqual(all.slice(0, 6), ["1:PUT", "2:PUT", "3:PUT", "4:DELETE", "5:COMMIT", "6:CHECKPOINT"]);
    // No write calls on the handle.
    for (const call of ["append", "appendBatch", "checkpoint", "truncate", "sync"]) {
      assert.equal((log as unknown as Record<string, unknown>)[call], undefined, call);
    }
    await log.close();
    await log.close();
    assert.deepEqual(snapshot(dir), before);
  });
});

test("openReadOnly reports a torn tail and damage in the middle without repairing either", async () => {
  await withTempDir(async (dir) => {
    const expected = await writeLog(dir);
    const segments = segmentFiles(dir);
    // Torn tail: the newest segment loses its last bytes.
    const newest = segments[segments.length - 1];
    fs.truncateSync(newest, fs.statSync(newest).size - 5);
    let before = snapshot(dir);
    let log = await WriteAheadLog.openReadOnly(dir);
    assert.ok(log.damage !== null);
    assert.equal(log.damage.tail, true);
    assert.equal(log.damage.file, fs.realpathSync(newest));
    assert.equal(log.damage.seq, 18);
    assert.deepEqual(log.recovery.actions.map((a) => a.action), ["cut-tail"]);
    assert.equal(log.recovery.clean, false);
    assert.equal(log.currentSeqNum(), 17);
    assert.deepEqual(await log.replay(), expected.filter((r) => r.seqNum <= 17));
    await log.close();
    assert.deepEqual(snapshot(dir), before);

    // Damage in the middle: a byte of an older segment's record flipped.
    const middle = segments[3];
    const bytes = fs.readFileSync(middle);
    bytes[bytes.length - 3] ^= 0xff;
    fs.writeFileSync(middle, bytes);
    before = snapshot(dir);
    log = await WriteAheadLog.openReadOnly(dir);
    assert.ok(log.damage !== null);
    assert.equal(log.damage.tail, false);
    assert.equal(log.damage.file, fs.realpathSync(middle));
    assert.match(log.damage.reason, /checksum/);
    const kept = log.currentSeqNum();
    assert.ok(kept < log.damage.seq);
    assert.deepEqual(await log.replay(), expected.filter((r) => r.seqNum <= kept));
    assert.ok(log.recovery.actions.some((a) => a.action === "quarantined-segment"));
    await log.close();
    assert.deepEqual(snapshot(dir), before);

    // What open then does agrees with what the read-only handle said.
    const wal = await WriteAheadLog.open(dir);
    assert.equal(wal.currentSeqNum(), kept);
    await wal.close();
  });
});

test("openReadOnly creates nothing: a missing directory is a WalFormatError and stays missing", async () => {
  await withTempDir(async (dir) => {
    const missing = path.join(dir, "nope");
    await assert.rejects(WriteAheadLog.openReadOnly(missing), WalFormatError);
    assert.equal(fs.existsSync(missing), false);
    // An empty directory is an empty log; no LOCK, no segment appears.
    const log = await WriteAheadLog.openReadOnly(dir);
    assert.equal(log.currentSeqNum(), 0);
    assert.deepEqual(await log.replay(), []);
    await log.close();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("openReadOnly beside a live writer in another process: acknowledged records, no lock taken, refresh sees more", async () => {
  const dir = tempDir();
  const writer = startWriter(runtime, dir);
  try {
    await writer.ready;
    const ackedBefore = await writer.acked(20);
    const lockBefore = fs.readFileSync(path.join(dir, "LOCK"));
    const log = await WriteAheadLog.openReadOnly(dir);
    assert.equal(log.damage, null, JSON.stringify(log.damage));
    const seen = log.currentSeqNum();
    assert.ok(seen >= ackedBefore, `read up to ${seen}, the writer had acknowledged ${ackedBefore}`);
    let checked = 0;
    for await (const r of log.replayStream()) {
      assert.equal(r.opType, payloadFor(r.key).opType);
      assert.deepEqual(r.value, payloadFor(r.key).expected);
      checked++;
    }
    assert.ok(checked > 0);
    // Still the writer's: the read-only open took no lock, and an open for writing is refused.
    assert.deepEqual(fs.readFileSync(path.join(dir, "LOCK")), lockBefore);
    await assert.rejects(WriteAheadLog.open(dir), WalLockedError);
    const more = await writer.acked(300); // past a rotation or two (64 KiB segments)
    const now = await log.refresh();
    assert.ok(now >= more, `refresh read up to ${now}, the writer had acknowledged ${more}`);
    let last = seen;
    for await (const r of log.iterate({ afterSeq: seen })) {
      assert.equal(r.seqNum, last + 1);
      last = r.seqNum;
    }
    assert.equal(last, now);
    await log.close();
  } finally {
    await writer.stop();
    removeDir(dir);
  }
});

test("maxFileSize 100: a segment per record; replay, reopen and read-only agree", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 100 });
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) seqs.push(await wal.append("PUT", `k${i}`, `value ${i}`));
    const commit = await wal.appendBatch([["PUT", "x", "1"], ["PUT", "y", "2"]]);
    const expected = await wal.replay();
    await wal.close();
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6]);
    assert.equal(commit, 9);
    // Each record (and the batch, with its COMMIT) larger than what is left of 100 bytes: a segment each.
    const files = segmentFiles(dir).map((f) => path.basename(f));
    assert.deepEqual(files, [1, 2, 3, 4, 5, 6, 7].map((s) => `${String(s).padStart(20, "0")}.wal`));
    for (const f of segmentFiles(dir).slice(0, 6)) assert.ok(fs.statSync(f).size <= 100, f);
    const again = await WriteAheadLog.open(dir, { maxFileSize: 100 });
    assert.equal(again.recovery.clean, true);
    assert.deepEqual(await again.replay(), expected);
    assert.equal(await again.append("PUT", "after", "reopen"), 10);
    await again.close();
    const log = await WriteAheadLog.openReadOnly(dir);
    assert.equal(log.currentSeqNum(), 10);
    assert.equal((await log.replay()).length, expected.length + 1);
    await log.close();
  });
});

test("a read-only handle whose segments the writer truncated away refreshes and reads on (what wal tail -f does)", async () => {
  await withTempDir(async (dir) => {
    const writer = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    for (let i = 1; i <= 100; i++) await writer.append("PUT", `k${i}`, "v".repeat(200));
    const ro = await WriteAheadLog.openReadOnly(dir);
    await writer.truncate(80);
    const error = await (async () => {
      for await (const _ of ro.iterate({ afterSeq: 10 })) { /* the first segments are gone */ }
    })().then(() => null, (e: unknown) => e);
    assert.ok(error instanceof WalReadError, `expected WalReadError, got ${error}`);
    assert.equal((error.cause as { code?: unknown }).code, "ENOENT", "the cause says the segment was removed");
    assert.equal(await ro.refresh(), 100);
    assert.equal(ro.firstSeqNum(), 81);
    const seqs: number[] = [];
    for await (const r of ro.iterate({ afterSeq: 10 })) seqs.push(r.seqNum);
    assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => 81 + i));
    await ro.close();
    await writer.close();
  });
});
