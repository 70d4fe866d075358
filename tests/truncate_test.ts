// truncate(n) at every possible n: inside batches, at their COMMITs, at checkpoints, at and around segment
// boundaries. After it the log must reopen (strict mode: nothing to repair) to exactly the records with seq > n.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalCorruptionError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import { withTempDir } from "./helpers.ts";

const DIR = "/wal";

test("truncate through the end of a batch keeps what follows (exact report)", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir);
    await wal.appendBatch([["PUT", "a", "1"], ["PUT", "b", "2"]]); // members 1, 2; COMMIT 3
    assert.equal(await wal.append("PUT", "c", "3"), 4);
    await wal.truncate(2);
    await wal.close();
    wal = await WriteAheadLog.open(dir, { recovery: "strict" });
    assert.deepEqual(await wal.replay(), [{ seqNum: 4, opType: "PUT", key: "c", value: "3" }]);
    assert.equal(wal.currentSeqNum(), 4);
    assert.ok(wal.recovery.clean, JSON.stringify(wal.recovery.actions));
    assert.equal(await wal.append("PUT", "d", "4"), 5);
    await wal.close();
  });
});

/** Builds a log of standalone records, batches of 1-3 members and checkpoints spread over small segments. */
async function buildLog(fs: CrashFileSystem): Promise<{ all: WalRecord[]; last: number }> {
  const wal = await WriteAheadLog.open(DIR, { fs, maxFileSize: 4096 });
  const all: WalRecord[] = [];
  const value = (i: number) => "v".repeat(150 + (i % 7) * 40) + i;
  for (let i = 0; i < 40; i++) {
    if (i % 4 === 1) {
      const size = 1 + (i % 3);
      const ops: [string, string, string][] = [];
      for (let j = 0; j < size; j++) ops.push(["PUT", `b${i}.${j}`, value(i + j)]);
      const commit = await wal.appendBatch(ops);
      ops.forEach(([opType, key, v], j) => all.push({ seqNum: commit - size + j, opType, key, value: v }));
      all.push({ seqNum: commit, opType: "COMMIT", key: "", value: "" });
    } else if (i % 9 === 5) {
      all.push({ seqNum: await wal.checkpoint(), opType: "CHECKPOINT", key: "", value: "" });
    } else {
      const seq = await wal.append("PUT", `k${i}`, value(i));
      all.push({ seqNum: seq, opType: "PUT", key: `k${i}`, value: value(i) });
    }
  }
  const last = wal.currentSeqNum();
  await wal.close();
  return { all, last };
}

async function collect(it: AsyncIterable<WalRecord>): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

test("truncate(n) for every n leaves exactly the records with seq > n, across batches and segments", async () => {
  const base = new CrashFileSystem({ seed: 7 });
  const { all, last } = await buildLog(base);
  const segmentStarts = base.list(DIR).filter((n) => n.endsWith(".wal")).length;
  assert.ok(segmentStarts >= 4, `the log must span several segments (has ${segmentStarts})`);
  for (let n = 0; n <= last + 1; n++) {
    const fs = base.clone();
    const wal = await WriteAheadLog.open(DIR, { fs, maxFileSize: 4096 });
    await wal.truncate(n);
    const expectedAll = all.filter((r) => r.seqNum > n);
    const expectedData = expectedAll.filter((r) => r.opType !== "COMMIT" && r.opType !== "CHECKPOINT");
    assert.deepEqual(await wal.replay(), expectedData, `n=${n}: replay right after truncate`);
    await wal.close();
    const reopened = await WriteAheadLog.open(DIR, { fs, maxFileSize: 4096, recovery: "strict" });
    const where = `n=${n}: after reopen`;
    assert.ok(reopened.recovery.clean, `${where}: recovery acted: ${JSON.stringify(reopened.recovery.actions)}`);
    assert.equal(reopened.currentSeqNum(), last, where);
    assert.deepEqual(await reopened.replay(), expectedData, where);
    assert.deepEqual(await collect(reopened.iterate()), expectedAll, `${where}: iterate`);
    assert.equal(await reopened.append("PUT", "next", "x"), last + 1, `${where}: numbering continues`);
    await reopened.close();
  }
});

test("truncate refuses, changing nothing, when the segment it must copy from holds damage (verify: tail)", async () => {
  const fs = new CrashFileSystem({ seed: 11 });
  const { last } = await buildLog(fs);
  const names = fs.list(DIR).filter((n) => n.endsWith(".wal")).sort();
  const second = `${DIR}/${names[1]}`;
  const firstSeq = Number(names[1].slice(0, 20));
  const bytes = fs.readFile(second);
  bytes[bytes.length - 40] ^= 0xff; // damage near the end of an older segment
  fs.overwrite(second, bytes);
  const wal = await WriteAheadLog.open(DIR, { fs, maxFileSize: 4096, verify: "tail" });
  const before = fs.snapshot().files;
  await assert.rejects(wal.truncate(firstSeq + 1), WalCorruptionError);
  const after = fs.snapshot().files;
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), "no file added or removed");
  for (const [path, content] of before) assert.deepEqual(after.get(path), content, `${path} unchanged`);
  await assert.rejects(wal.append("PUT", "x", "y"), WalCorruptionError, "appends stop until a reopen repairs it");
  await wal.close();
  assert.ok(last > firstSeq);
});
