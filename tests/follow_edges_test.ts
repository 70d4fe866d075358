// Adversary round 3: the writer's followers at the edges of close(), truncateAfter and afterSeq.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

async function drain(it: AsyncGenerator<WalRecord>): Promise<{ seqs: number[]; error: unknown }> {
  const seqs: number[] = [];
  try {
    for await (const r of it) seqs.push(r.seqNum);
  } catch (e) {
    return { seqs, error: e };
  }
  return { seqs, error: null };
}

for (const syncMode of ["sync", "batch", "none"] as const) {
  test(`close() ends a follower cleanly; resuming after the last seq it yielded loses nothing close acknowledged (${syncMode})`, async () => {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { syncMode });
      await wal.append("PUT", "a", "1");
      const it = wal.follow();
      const first = await it.next();
      assert.equal(first.value?.seqNum, 1);
      const rest = drain(it);
      // Called before close: acknowledged by close's flush.
      const p2 = wal.append("PUT", "b", "2");
      const p3 = wal.appendBatch([{ opType: "PUT", key: "c", value: "3" }]);
      await wal.close();
      assert.equal(await p2, 2);
      await p3;
      const { seqs, error } = await rest;
      assert.equal(error, null, "close ends a follower cleanly");
      // The documented resume: a new follower after the last seq seen gets what close acknowledged, once each.
      const last = [1, ...seqs].at(-1) as number;
      const again = await WriteAheadLog.open(dir, { syncMode });
      const resumed = again.follow({ afterSeq: last });
      const got: number[] = [...seqs];
      while (got.length < 2) got.push(((await resumed.next()).value as WalRecord).seqNum);
      assert.deepEqual(got, [2, 3]);
      await again.close();
    });
  });
}

test("follow({ afterSeq: currentSeqNum() }) taken while a truncateAfter and appends are held behind it", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `v${i}`);
    const q = wal.append("PUT", "k11", "v11"); // queued: the cut waits for it
    const cut = wal.truncateAfter(5);
    const a = wal.append("PUT", "k6", "new6");
    const it = wal.follow({ afterSeq: wal.currentSeqNum() });
    await q;
    const step = it.next().then(
      (r) => (r.done ? "done" : `yielded ${r.value.seqNum}`),
      (e) => (e instanceof WalTruncatedError ? `WalTruncatedError(${e.upToSeq})` : `threw ${e}`),
    );
    await cut;
    assert.equal(await a, 6);
    assert.equal(await step, "WalTruncatedError(5)");
    await wal.close();
  });
});

test("follow() is checked against the log when it is called: cuts and close before its first step reach it", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `v${i}`);
    const outcome = (it: AsyncGenerator<WalRecord>) =>
      it.next().then(
        (r) => (r.done ? "done" : `yielded ${r.value.seqNum}`),
        (e) => (e instanceof WalTruncatedError ? `WalTruncatedError(${e.upToSeq}, ${e.position})` : `threw ${e}`),
      );
    // After seq 10, stepped once the cut and a new seq 6 are durable: the cut removed what it was after.
    const past = wal.follow({ afterSeq: 10 });
    const atCut = wal.follow({ afterSeq: 5 });
    const oldest = wal.follow();
    await wal.truncateAfter(5);
    await wal.append("PUT", "k6", "new6");
    assert.equal(await outcome(past), "WalTruncatedError(5, 10)");
    assert.equal(await outcome(atCut), "yielded 6");
    // From the oldest record: a truncate before its first step moves it, as it does a stream not yet started.
    await wal.truncate(3);
    assert.equal(await outcome(oldest), "yielded 4");
    const afterThree = wal.follow({ afterSeq: 3 });
    await wal.truncate(4);
    assert.equal(await outcome(afterThree), "WalTruncatedError(4, 3)");
    const unstarted = wal.follow({ afterSeq: 6 });
    await wal.close();
    assert.equal(await outcome(unstarted), "done");
  });
});

test("100 followers, three cuts in a row, each resumes from its error without loss or duplicates", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none" });
    for (let i = 1; i <= 30; i++) await wal.append("PUT", `k${i}`, `gen0-${i}`);
    const its = Array.from({ length: 100 }, () => wal.follow());
    // Each follower reads a different amount before the cuts.
    for (let f = 0; f < its.length; f++) for (let k = 0; k < f % 31; k++) await its[f].next();
    await wal.truncateAfter(25);
    for (let i = 26; i <= 28; i++) await wal.append("PUT", `k${i}`, `gen1-${i}`);
    await wal.truncateAfter(20);
    await wal.truncateAfter(22).catch(() => {}); // above current? no: 20 < 22, no-op
    for (let i = 21; i <= 35; i++) await wal.append("PUT", `k${i}`, `gen2-${i}`);
    await wal.truncateAfter(15);
    for (let i = 16; i <= 40; i++) await wal.append("PUT", `k${i}`, `gen3-${i}`);
    const truth = (await wal.replay()).map((r) => `${r.seqNum}:${r.value}`);
    const problems: string[] = [];
    for (let f = 0; f < its.length; f++) {
      const seen: string[] = [];
      let it = its[f];
      // Replays what a consumer does: on WalTruncatedError (after) resume after upToSeq, dropping what it had past it.
      const read = f % 31;
      for (let k = 1; k <= read; k++) seen.push(`${k}:gen0-${k}`);
      for (;;) {
        try {
          const r = await it.next();
          if (r.done) break;
          seen.push(`${r.value.seqNum}:${r.value.value}`);
          if (r.value.seqNum === 40) break;
        } catch (e) {
          if (!(e instanceof WalTruncatedError)) throw e;
          while (seen.length > 0 && Number(seen[seen.length - 1].split(":")[0]) > e.upToSeq) seen.pop();
          it = wal.follow({ afterSeq: e.upToSeq });
        }
      }
      await it.return(undefined);
      if (JSON.stringify(seen) !== JSON.stringify(truth)) problems.push(`follower ${f}: ${seen.slice(-3)} vs ${truth.slice(-3)} (${seen.length}/${truth.length})`);
    }
    assert.deepEqual(problems, []);
    await wal.close();
  });
});

test("a waiting follower is told when truncateAfter meets damage and the handle refuses appends (verify: tail)", async () => {
  await withTempDir(async (dir) => {
    const fs = await import("node:fs");
    const { segmentFiles } = await import("./helpers.ts");
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 16; i++) await wal.append("PUT", `k${i}`, `v${String(i).padStart(2, "0")}`);
    await wal.close();
    const segs = segmentFiles(dir);
    assert.ok(segs.length >= 2);
    const first = fs.readFileSync(segs[0]);
    first[32 + 3 * 40 + 38] ^= 0x40; // the value of seq 4 (40-byte records), inside the first (older) segment
    fs.writeFileSync(segs[0], first);
    wal = await WriteAheadLog.open(dir, { maxFileSize: 400, verify: "tail" });
    const it = wal.follow({ afterSeq: wal.currentSeqNum() });
    let settled = "pending";
    const step = it.next().then(
      (r) => (settled = r.done ? "done" : `yielded ${r.value.seqNum}`),
      (e) => (settled = `threw ${(e as Error).name}`),
    );
    const cut = await wal.truncateAfter(6).then(() => "cut", (e) => `threw ${(e as Error).name}`);
    const append = await wal.append("PUT", "x", "y").then(() => "appended", (e) => `threw ${(e as Error).name}`);
    // A few turns of the event loop: the writer has nothing left to do.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 10));
    const seen = settled;
    await wal.close();
    await step;
    assert.deepEqual({ cut, append, follower: seen }, {
      cut: "threw WalCorruptionError",
      append: "threw WalCorruptionError",
      follower: "threw WalCorruptionError",
    });
  });
});
