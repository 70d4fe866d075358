// Adversarial: a read-only follower beside a writer that dies mid-record (torn tail left in the newest segment)
// and a new writer that repairs it and appends on; and beside front truncates and rotations.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { setImmediate } from "node:timers";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

async function take(it: AsyncGenerator<WalRecord>, n: number): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

test("ReadOnlyLog.follow across a writer crash mid-record, repair and new appends: every record once", async () => {
  await withTempDir(async (dir) => {
    const w1 = await WriteAheadLog.open(dir, { syncMode: "none" });
    for (let i = 1; i <= 5; i++) await w1.append("PUT", `a${i}`, "v".repeat(30));
    const reader = await WriteAheadLog.openReadOnly(dir);
    const controller = new AbortController();
    const it = reader.follow({ pollMs: 5, signal: controller.signal });
    try {
      assert.deepEqual((await take(it, 5)).map((r) => r.key), ["a1", "a2", "a3", "a4", "a5"]);
      // The writer dies while writing seq 6: half a record at the end of the newest segment.
      const seg = segmentFiles(dir).at(-1)!;
      const size = fs.statSync(seg).size;
      const w2probe = await WriteAheadLog.openReadOnly(dir);
      await w2probe.close();
      const fd = fs.openSync(seg, "r+");
      const half = new Uint8Array(40);
      fs.readSync(fd, half, 0, 40, size - 80); // bytes of a real record header: looks like a record start
      half[4] = 6; // seq 6
      fs.writeSync(fd, half, 0, 40, size);
      fs.closeSync(fd);
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 10));
      // A new writer repairs the tail and appends on.
      const w2 = await WriteAheadLog.open(dir, { syncMode: "none" });
      for (let i = 6; i <= 9; i++) assert.equal(await w2.append("PUT", `b${i}`, "w".repeat(50)), i);
      const rest = await take(it, 4);
      assert.deepEqual(rest.map((r) => `${r.seqNum}:${r.key}`), ["6:b6", "7:b7", "8:b8", "9:b9"]);
      await w2.close();
    } finally {
      controller.abort();
      await it.next().catch(() => {});
      await reader.close();
      await w1.close().catch(() => {});
    }
  });
});

test("ReadOnlyLog.follow beside front truncates and rotations: every committed record once, in order, or WalTruncatedError", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 1024, syncMode: "none" });
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, "v".repeat(60));
    const reader = await WriteAheadLog.openReadOnly(dir);
    const controller = new AbortController();
    const it = reader.follow({ pollMs: 2, signal: controller.signal });
    const got: WalRecord[] = [];
    let ended = "";
    const consumer = (async () => {
      try {
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          got.push(r.value);
          // A slow consumer: the writer races ahead and truncates behind it.
          if (got.length % 5 === 0) await new Promise((res) => setTimeout(res, 3));
        }
        ended = "done";
      } catch (e) {
        ended = e instanceof WalTruncatedError ? `truncated ${e.upToSeq}` : `threw ${e}`;
      }
    })();
    for (let i = 11; i <= 200; i++) {
      await wal.append("PUT", `k${i}`, "v".repeat(60));
      if (i % 40 === 0 && i > 60) await wal.truncate(i - 60);
      if (i % 3 === 0) await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 200 && got.at(-1)?.seqNum !== 200 && ended === ""; i++) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await consumer;
    await reader.close();
    await wal.close();
    const seqs = got.map((r) => r.seqNum);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, `gap or repeat at ${seqs[i - 1]} -> ${seqs[i]}`);
    for (const r of got) assert.equal(r.key, `k${r.seqNum}`);
    assert.ok(seqs.at(-1) === 200 || ended.startsWith("truncated"), `ended ${ended} at ${seqs.at(-1)}`);
  });
});
