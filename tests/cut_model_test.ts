// Adversary round 4: random appends, batches, truncateAfter (often at segment boundaries), truncate, reopen, with
// tiny segments; after each step read(seq) of every seq, firstSeqNum/currentSeqNum, stats().segments, and a
// follower from the start must agree with a model.
import { test } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

for (const syncMode of ["sync", "batch", "none"] as const) {
  test(`model: truncateAfter/truncate/appends/reopen with tiny segments, read(seq) and follow agree (${syncMode})`, async () => {
    await withTempDir(async (dir) => {
      const rand = rng(syncMode.length * 7919 + 3 + Number(process.env.ADV4_SEED ?? 0));
      const opts = { syncMode, maxFileSize: 180 } as const;
      let wal = await WriteAheadLog.open(dir, opts);
      // seq -> value, for data records (standalone appends only: batches add COMMIT records we track as null).
      const model = new Map<number, string | null>();
      let first = 1;
      let last = 0;
      const unitEnds = new Set<number>();
      for (let step = 0; step < 160; step++) {
        const r = rand();
        if (r < 0.55) {
          const v = "v".repeat(1 + Math.floor(rand() * 40)) + step;
          const p: Promise<number>[] = [];
          const k = 1 + Math.floor(rand() * 3);
          for (let j = 0; j < k; j++) p.push(wal.append("PUT", `k${step}-${j}`, v + j));
          const seqs = await Promise.all(p);
          for (let j = 0; j < k; j++) {
            assert.equal(seqs[j], last + 1, `step ${step}: seq`);
            last = seqs[j];
            model.set(last, v + j);
            unitEnds.add(last);
          }
        } else if (r < 0.65) {
          const n = 1 + Math.floor(rand() * 3);
          await wal.appendBatch(Array.from({ length: n }, (_, j) => ({ opType: "PUT", key: `b${step}-${j}`, value: `bv${step}-${j}` })));
          for (let j = 0; j < n; j++) model.set(++last, `bv${step}-${j}`);
          model.set(++last, null);
          unitEnds.add(last);
        } else if (r < 0.85 && last >= first) {
          // Prefer a segment boundary: a seq just before some segment's first.
          const names = segmentFiles(dir).map((p) => Number(p.slice(-24, -4)));
          let n = rand() < 0.5 && names.length > 1 ? names[1 + Math.floor(rand() * (names.length - 1))] - 1 : first - 1 + Math.floor(rand() * (last - first + 1));
          if (n < first - 1) n = first - 1;
          await wal.truncateAfter(n);
          // A batch member: the whole batch goes.
          let keep = n;
          while (keep >= first && !unitEnds.has(keep)) keep--;
          for (let s = keep + 1; s <= last; s++) {
            model.delete(s);
            unitEnds.delete(s);
          }
          last = keep;
          assert.equal(wal.currentSeqNum(), last, `step ${step}: currentSeqNum after truncateAfter(${n})`);
        } else if (r < 0.9 && last > first) {
          let n = first + Math.floor(rand() * (last - first));
          while (n < last && !unitEnds.has(n)) n++;
          await wal.truncate(n);
          for (let s = first; s <= n; s++) {
            model.delete(s);
            unitEnds.delete(s);
          }
          first = n + 1;
        } else {
          await wal.close();
          wal = await WriteAheadLog.open(dir, opts);
        }
        assert.equal(wal.currentSeqNum(), last, `step ${step}: currentSeqNum`);
        if (last >= first) assert.equal(wal.firstSeqNum(), first, `step ${step}: firstSeqNum`);
        for (const [s, v] of model) {
          const got = await wal.read(s);
          if (v === null) assert.equal(got?.opType, "COMMIT", `step ${step}: read(${s})`);
          else assert.equal(got?.value, v, `step ${step}: read(${s})`);
        }
        assert.equal(await wal.read(last + 1), undefined, `step ${step}: read past the end`);
        assert.equal(wal.stats().segments, segmentFiles(dir).length, `step ${step}: stats().segments`);
        if (step % 10 === 9) {
          const it = wal.follow();
          const seen: WalRecord[] = [];
          const want = [...model].filter(([, v]) => v !== null).length;
          while (seen.length < want) seen.push((await it.next()).value as WalRecord);
          await it.return(undefined);
          assert.deepEqual(seen.map((x) => x.value), [...model].filter(([, v]) => v !== null).map(([, v]) => v), `step ${step}: follow`);
        }
      }
      await wal.close();
    });
  });
}
