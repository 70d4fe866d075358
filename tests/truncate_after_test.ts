// truncateAfter(n) at every possible n (inside batches, at their COMMITs, at checkpoints, at and around segment
// boundaries), with appends queued around the call, with open streams, and on a version-1 segment. After it the
// log holds exactly the records with seq <= the kept seq, numbering continues right after it, and a reopen (strict
// mode) finds nothing to repair.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { setImmediate } from "node:timers";
import { WalInvalidArgumentError, WalTruncatedError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

const DIR = "/wal";
const OPTIONS = { maxFileSize: 4096 };
const here = path.dirname(fileURLToPath(import.meta.url));
const goldenV1 = path.join(here, "fixtures", "golden", "00000000000000000001.wal");

interface Built {
  /** Every record, COMMIT and CHECKPOINT included, as `iterate` yields them. */
  all: WalRecord[];
  /** For each batch member's seq: the seq of its batch's first member. */
  batchStart: Map<number, number>;
  last: number;
}

/** A log of standalone records, batches of 1-3 members and checkpoints spread over small segments. */
async function buildLog(fs: CrashFileSystem): Promise<Built> {
  const wal = await WriteAheadLog.open(DIR, { ...OPTIONS, fs });
  const all: WalRecord[] = [];
  const batchStart = new Map<number, number>();
  const value = (i: number) => "v".repeat(150 + (i % 7) * 40) + i;
  for (let i = 0; i < 40; i++) {
    if (i % 4 === 1) {
      const size = 1 + (i % 3);
      const ops: [string, string, string][] = [];
      for (let j = 0; j < size; j++) ops.push(["PUT", `b${i}.${j}`, value(i + j)]);
      const commit = await wal.appendBatch(ops);
      ops.forEach(([opType, key, v], j) => {
        all.push({ seqNum: commit - size + j, opType, key, value: v });
        batchStart.set(commit - size + j, commit - size);
      });
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
  return { all, batchStart, last };
}

async function collect(it: AsyncIterable<WalRecord>): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

const isData = (r: WalRecord) => r.opType !== "COMMIT" && r.opType !== "CHECKPOINT";

/** The documented rule: n itself, unless it is a batch member (then the seq before that batch), at most the end. */
function keptThrough(b: Built, n: number): number {
  if (n >= b.last) return b.last;
  const start = b.batchStart.get(n);
  return start === undefined ? n : start - 1;
}

test("truncateAfter(n) for every n keeps exactly the records up to n (batches whole), and numbering goes on after", async () => {
  const base = new CrashFileSystem({ seed: 11 });
  const built = await buildLog(base);
  assert.ok(base.list(DIR).filter((n) => n.endsWith(".wal")).length >= 4, "the log should span several segments");
  let insideBatch = 0;
  for (let n = 0; n <= built.last + 1; n++) {
    const disk = base.clone();
    const keep = keptThrough(built, n);
    if (keep !== Math.min(n, built.last)) insideBatch++;
    const want = built.all.filter((r) => r.seqNum <= keep);
    let wal = await WriteAheadLog.open(DIR, { ...OPTIONS, fs: disk, recovery: "strict" });
    await wal.truncateAfter(n);
    assert.equal(wal.currentSeqNum(), keep, `n=${n}: currentSeqNum`);
    assert.equal(wal.firstSeqNum(), 1, `n=${n}: firstSeqNum`);
    assert.deepEqual(await collect(wal.iterate()), want, `n=${n}: iterate`);
    assert.deepEqual(await wal.replay(), want.filter(isData), `n=${n}: replay`);
    assert.equal(await wal.append("PUT", "after", `cut at ${n}`), keep + 1, `n=${n}: the next append's seq`);
    const commit = await wal.appendBatch([["PUT", "x", "1"], ["PUT", "y", "2"]]);
    assert.equal(commit, keep + 4, `n=${n}: the batch after`);
    await wal.close();
    wal = await WriteAheadLog.open(DIR, { ...OPTIONS, fs: disk, recovery: "strict" });
    assert.ok(wal.recovery.clean, `n=${n}: reopen repaired ${JSON.stringify(wal.recovery.actions)}`);
    assert.equal(wal.currentSeqNum(), keep + 4, `n=${n}: currentSeqNum after reopen`);
    assert.deepEqual(
      await wal.replay({ afterSeq: keep }),
      [
        { seqNum: keep + 1, opType: "PUT", key: "after", value: `cut at ${n}` },
        { seqNum: keep + 2, opType: "PUT", key: "x", value: "1" },
        { seqNum: keep + 3, opType: "PUT", key: "y", value: "2" },
      ],
      `n=${n}: records after the cut`,
    );
    assert.deepEqual((await wal.replay()).filter((r) => r.seqNum <= keep), want.filter(isData), `n=${n}: kept part`);
    await wal.close();
  }
  assert.ok(insideBatch >= 5, `only ${insideBatch} cuts fell inside a batch`);
});

test("truncateAfter after truncate: n below firstSeqNum() - 1 is refused, firstSeqNum() - 1 empties the log", async () => {
  const base = new CrashFileSystem({ seed: 12 });
  const built = await buildLog(base);
  let upTo = 20;
  while (built.batchStart.has(upTo)) upTo++; // a truncate by seq inside a batch would leave its COMMIT first
  const wal = await WriteAheadLog.open(DIR, { ...OPTIONS, fs: base });
  await wal.truncate(upTo);
  assert.equal(wal.firstSeqNum(), upTo + 1);
  for (const bad of [-1, 1.5, Number.NaN, upTo - 1, 0]) {
    await assert.rejects(wal.truncateAfter(bad), (e: unknown) => e instanceof WalInvalidArgumentError && e.argument === "n");
  }
  await assert.rejects(wal.truncateAfter("5" as unknown as number), WalInvalidArgumentError);
  assert.equal(wal.currentSeqNum(), built.last, "a refused call changes nothing");
  await wal.truncateAfter(upTo);
  assert.equal(wal.currentSeqNum(), upTo);
  assert.equal(wal.firstSeqNum(), upTo + 1);
  assert.deepEqual(await wal.replay(), []);
  assert.equal(await wal.append("PUT", "k", "v"), upTo + 1);
  await wal.close();
  const again = await WriteAheadLog.open(DIR, { ...OPTIONS, fs: base, recovery: "strict" });
  assert.ok(again.recovery.clean);
  assert.deepEqual(await again.replay(), [{ seqNum: upTo + 1, opType: "PUT", key: "k", value: "v" }]);
  assert.equal(again.firstSeqNum(), upTo + 1);
  await again.close();
});

test("appends queued before truncateAfter are written and then cut; those called after wait and get seqs after the cut", async () => {
  for (const syncMode of ["sync", "batch", "none"] as const) {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { syncMode, maxFileSize: 4096 });
      for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, "v".repeat(300));
      const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
      // Issued from separate callbacks, as a server issues them: two before the call, in earlier turns.
      const before: Promise<number>[] = [];
      setImmediate(() => before.push(wal.append("PUT", "early1", "e")));
      await turn();
      setImmediate(() => before.push(wal.appendBatch([["PUT", "early2", "e"], ["PUT", "early3", "e"]])));
      await turn();
      let cut!: Promise<void>;
      const after: Promise<number>[] = [];
      const bytes = new Uint8Array([1, 2, 3]);
      await new Promise<void>((resolve) => {
        setTimeout(() => {
          cut = wal.truncateAfter(8);
          // Same turn, right after the call: held behind the cut.
          after.push(wal.append("PUT", "late1", bytes));
          bytes[0] = 99; // the caller reuses its buffer: the record keeps what it was given
          resolve();
        }, 1);
      });
      setImmediate(() => after.push(wal.appendBatch([["PUT", "late2", "l"], ["PUT", "late3", "l"]])));
      await turn();
      setImmediate(() => after.push(wal.checkpoint()));
      await turn();
      after.push(wal.append("PUT", "late4", "l"));
      assert.deepEqual(await Promise.all(before), [11, 14], `${syncMode}: the earlier appends got their seqs`);
      await cut;
      assert.deepEqual(await Promise.all(after), [9, 12, 13, 14], `${syncMode}: the later appends continue after the cut`);
      assert.equal(wal.currentSeqNum(), 14);
      const tail = (await collect(wal.iterate({ afterSeq: 8 }))).map((r) => [r.seqNum, r.opType, r.key]);
      assert.deepEqual(tail, [
        [9, "PUT", "late1"],
        [10, "PUT", "late2"],
        [11, "PUT", "late3"],
        [12, "COMMIT", ""],
        [13, "CHECKPOINT", ""],
        [14, "PUT", "late4"],
      ]);
      assert.deepEqual((await wal.replay({ afterSeq: 8 }))[0].value, new Uint8Array([1, 2, 3]));
      await wal.close();
      const again = await WriteAheadLog.open(dir, { recovery: "strict" });
      assert.ok(again.recovery.clean, `${syncMode}: ${JSON.stringify(again.recovery.actions)}`);
      assert.deepEqual((await collect(again.iterate({ afterSeq: 8 }))).map((r) => [r.seqNum, r.key]), tail.map((t) => [t[0], t[2]]));
      await again.close();
    });
  }
});

test("truncateAfter calls queue in call order with the writes between them; close waits for what is held", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 6; i++) await wal.append("PUT", `k${i}`, "v");
    const first = wal.truncateAfter(4);
    const a = wal.append("PUT", "a", "1"); // 5
    const second = wal.truncateAfter(3); // removes a
    const b = wal.append("PUT", "b", "2"); // 4
    const closed = wal.close();
    const refused = assert.rejects(wal.append("PUT", "c", "3"), (e: unknown) => (e as { code?: string }).code === "WAL_CLOSED");
    await first;
    assert.equal(await a, 5);
    await second;
    assert.equal(await b, 4);
    await closed;
    await refused;
    const again = await WriteAheadLog.open(dir, { recovery: "strict" });
    assert.deepEqual((await again.replay()).map((r) => [r.seqNum, r.key]), [[1, "k1"], [2, "k2"], [3, "k3"], [4, "b"]]);
    await again.close();
  });
});

test("truncateAfter ends the streams that would still yield a removed record; the others go on", async () => {
  const disk = new CrashFileSystem({ seed: 13 });
  const wal = await WriteAheadLog.open(DIR, { ...OPTIONS, fs: disk });
  for (let i = 1; i <= 30; i++) await wal.append("PUT", `k${i}`, "v".repeat(200));
  const early = wal.replayStream(); // began at 30: reads past the cut
  assert.equal((await early.next()).value?.seqNum, 1);
  const atCut = wal.iterate({ afterSeq: 25 }); // not started yet, would read 26..30
  const middle = wal.iterate({ afterSeq: 10 });
  await wal.truncateAfter(20);
  // A stream begun after the cut sees the log as it is now.
  const later = wal.replayStream({ afterSeq: 15 });
  assert.equal((await later.next()).value?.seqNum, 16);
  await wal.append("PUT", "new21", "x");
  await assert.rejects(early.next(), (e: unknown) => e instanceof WalTruncatedError && e.after && e.upToSeq === 20 && e.position === 1);
  // Not begun before the cut (a generator starts at its first step): it reads what the log holds then.
  assert.deepEqual((await collect(atCut)).map((r) => r.seqNum), []);
  assert.deepEqual((await collect(middle)).map((r) => r.seqNum), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
  assert.deepEqual((await collect(later)).map((r) => r.seqNum), [17, 18, 19, 20]);
  // Streams that still had records above 10 to yield end.
  const short = wal.replayStream({ afterSeq: 2 });
  assert.equal((await short.next()).value?.seqNum, 3);
  await wal.truncateAfter(21);
  await wal.append("PUT", "k22", "x");
  const mid = wal.replayStream({ afterSeq: 2 });
  assert.equal((await mid.next()).value?.seqNum, 3);
  await wal.truncateAfter(10);
  await assert.rejects(collect(short), WalTruncatedError);
  await assert.rejects(collect(mid), WalTruncatedError);
  const whole = wal.replayStream();
  const firstOfWhole = await whole.next();
  await wal.truncateAfter(10); // no-op: nothing above 10 is left
  assert.equal(firstOfWhole.value?.seqNum, 1);
  assert.deepEqual((await collect(whole)).map((r) => r.seqNum), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // A stream that ends at or before the cut (it began before later appends) goes on to its end.
  const before = wal.replayStream();
  assert.equal((await before.next()).value?.seqNum, 1);
  await wal.append("PUT", "k11", "x");
  await wal.append("PUT", "k12", "x");
  await wal.truncateAfter(10);
  assert.deepEqual((await collect(before)).map((r) => r.seqNum), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await wal.close();
});

test("truncateAfter on a version-1 segment: the cut segment is kept as it is and appends go to a new version-2 one", async () => {
  // Golden log: 1, 2 standalone; a batch of two members (3, 4) with its COMMIT (5); CHECKPOINT 6.
  const expected = [0, 1, 2, 2, 2, 5, 6];
  for (let n = 0; n <= 6; n++) {
    await withTempDir(async (dir) => {
      fs.copyFileSync(goldenV1, path.join(dir, path.basename(goldenV1)));
      const wal = await WriteAheadLog.open(dir, { recovery: "strict" });
      // Open already started a version-2 segment at 7: numbering would go on there.
      await wal.truncateAfter(n);
      const keep = expected[n];
      assert.equal(wal.currentSeqNum(), keep, `n=${n}`);
      assert.equal(await wal.append("PUT", "new", "record"), keep + 1, `n=${n}: next seq`);
      await wal.close();
      const files = segmentFiles(dir);
      const newest = new Uint8Array(fs.readFileSync(files[files.length - 1]));
      assert.equal(newest[8], 2, `n=${n}: the newest segment is version 2`);
      const again = await WriteAheadLog.open(dir, { recovery: "strict" });
      assert.ok(again.recovery.clean, `n=${n}: ${JSON.stringify(again.recovery.actions)}`);
      const seqs = (await collect(again.iterate())).map((r) => r.seqNum);
      assert.deepEqual(seqs, Array.from({ length: keep + 1 }, (_, i) => i + 1), `n=${n}: records`);
      await again.close();
    });
  }
});

test("a pending cut left by a crash is finished by open, before anything else", async () => {
  const disk = new CrashFileSystem({ seed: 14 });
  const built = await buildLog(disk);
  const wal = await WriteAheadLog.open(DIR, { ...OPTIONS, fs: disk });
  const start = disk.history.length;
  await wal.truncateAfter(30);
  const end = disk.history.length;
  await wal.close();
  const keep = keptThrough(built, 30);
  // Every point inside the cut with every unsynced change kept: open finishes the cut (strict: nothing refused).
  let finished = 0;
  for (let point = start + 1; point < end; point++) {
    const state = disk.crashState(point);
    const crashed = state.materialize({ keep: state.files.map((f) => f.units), applied: state.dirOps.map(() => true) });
    const again = await WriteAheadLog.open(DIR, { ...OPTIONS, fs: crashed, recovery: "strict" });
    const last = again.currentSeqNum();
    assert.ok(last === built.last || last === keep, `point ${point}: the log ends at ${last}`);
    if (again.recovery.actions.some((a) => a.action === "finished-truncate")) {
      finished++;
      assert.equal(last, keep);
      // (Only a temporary file of the cut's own, removed first, may come before it.)
      const first = again.recovery.actions.find((a) => a.action !== "removed-temp-file");
      assert.match(first?.reason ?? "", /truncateAfter/);
    }
    assert.deepEqual(await collect(again.iterate()), built.all.filter((r) => r.seqNum <= last));
    await again.close();
  }
  assert.ok(finished > 0, "some crash point should leave a pending cut");
});

test("stats() after truncateAfter counts the cut segment at its new size, also once it is sealed again", async () => {
  const disk = new CrashFileSystem({ seed: 15 });
  // Not "sync" mode: no zeros preallocated after the records, so the files' sizes are what stats() counts.
  const wal = await WriteAheadLog.open(DIR, { ...OPTIONS, fs: disk, syncMode: "none" });
  for (let i = 0; i < 40; i++) await wal.append("PUT", `k${i}`, "v".repeat(300));
  const sizes = () =>
    disk.list(DIR).filter((n) => n.endsWith(".wal")).reduce((sum, n) => sum + disk.readFile(`${DIR}/${n}`).length, 0);
  assert.ok(wal.stats().segments >= 3);
  assert.equal(wal.stats().segmentBytes, sizes()); // caches the sealed segments' sizes
  await wal.truncateAfter(5);
  // No stats() call here: the next one must not use the size it cached for the first segment while it was sealed.
  // The cut one, and the new empty one for seq 6.
  assert.equal(disk.list(DIR).filter((n) => n.endsWith(".wal")).length, 2);
  for (let i = 0; i < 40; i++) await wal.append("PUT", `j${i}`, "w".repeat(100 + i));
  await wal.sync();
  assert.equal(wal.stats().segmentBytes, sizes());
  await wal.close();
});
