// Adversary round 4: crash points around truncateAfter in "batch" and "none" mode, where the first append after
// a cut starts a new segment (src/writer.ts resetTail) by the write fast path or a queued group, with tiny
// segments. At every crash point: open succeeds, the log holds every record a resolved sync() made durable, and
// every seq it holds carries the record of the log as it was at that point (never a removed one at a re-used seq).
import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteAheadLog } from "../mod.ts";
import { CrashFileSystem, seededRandom } from "../src/io/crash_fs.ts";
import type { CrashChoice, CrashState } from "../src/io/crash_fs.ts";

const DIR = "/wal";
const MAX = 300;

interface Epoch {
  values: Map<number, string>;
  /** History span of the cut that began it. */
  from: number;
  to: number;
  keep: number;
}

function* choices(state: CrashState, random: () => number): Generator<CrashChoice> {
  const lost = state.files.map(() => 0);
  const kept = state.files.map((f) => f.units);
  const m = state.dirOps.length;
  const sets: boolean[][] = [state.dirOps.map(() => false), state.dirOps.map(() => true)];
  for (let i = 0; i < m && i < 6; i++) sets.push(state.dirOps.map((_, j) => j <= i));
  for (const applied of sets) {
    yield { keep: lost, applied };
    yield { keep: kept, applied };
  }
  for (let i = 0; i < 6; i++) yield state.randomChoice(random);
}

for (const syncMode of ["batch", "none"] as const) {
  test(`crash points around truncateAfter then appends (new segment after the cut), ${syncMode} mode`, async () => {
    const fs = new CrashFileSystem({ seed: 11, pageSize: 64 });
    const opts = { fs, syncMode, maxFileSize: MAX, batchSyncCount: 1000, batchSyncIntervalMs: 100000 } as const;
    const wal = await WriteAheadLog.open(DIR, opts);
    const epochs: Epoch[] = [{ values: new Map(), from: 0, to: 0, keep: 0 }];
    const durable: { seq: number; at: number }[] = [];
    const cur = () => epochs[epochs.length - 1];
    let n = 0;
    const add = async (count: number, tag: string) => {
      for (let i = 0; i < count; i++) {
        const v = `${tag}-${n++}-${"x".repeat(n % 17)}`;
        const seq = await wal.append("PUT", `k${n}`, v);
        cur().values.set(seq, v);
      }
    };
    const sync = async () => {
      await wal.sync();
      durable.push({ seq: wal.currentSeqNum(), at: fs.history.length });
    };
    const cut = async (k: number) => {
      const from = fs.history.length;
      await wal.truncateAfter(k);
      const to = fs.history.length;
      const next: Epoch = { values: new Map([...cur().values].filter(([s]) => s <= k)), from, to, keep: k };
      epochs.push(next);
      durable.push({ seq: k, at: to });
    };
    await add(30, "a");
    await sync();
    await cut(22); // inside the newest segment or an older one
    await add(1, "b"); // the first append after the cut: the fast path cannot take it (new segment)
    await add(5, "b");
    await sync();
    const names = () => fs.list(DIR).filter((x) => x.endsWith(".wal")).sort().map((x) => Number(x.slice(0, 20)));
    await cut(names().at(-1)! - 1); // at a segment boundary
    await add(4, "c");
    await cut(wal.currentSeqNum() - 2);
    // Several appends in one turn right after a cut.
    const ps: Promise<number>[] = [];
    for (let i = 0; i < 4; i++) ps.push(wal.append("PUT", `d${i}`, `d-${i}`));
    (await Promise.all(ps)).forEach((s, i) => cur().values.set(s, `d-${i}`));
    await wal.truncate(3);
    await add(3, "e");
    await wal.close();

    const random = seededRandom(5);
    let states = 0;
    for (let point = 0; point <= fs.history.length; point++) {
      const state = fs.crashState(point);
      const seen = new Set<string>();
      for (const choice of choices(state, random)) {
        const key = state.key(choice);
        if (seen.has(key)) continue;
        seen.add(key);
        states++;
        const where = `${syncMode}: crash point ${point}/${fs.history.length} variant ${seen.size}`;
        const disk = state.materialize(choice);
        let w: WriteAheadLog;
        try {
          w = await WriteAheadLog.open(DIR, { fs: disk, syncMode, maxFileSize: MAX });
        } catch (e) {
          assert.fail(`${where}: open refused: ${e}`);
        }
        const got = await w.replay();
        const last = w.currentSeqNum();
        let must = 0;
        for (const d of durable) if (d.at <= point) must = d.seq;
        // Epochs the log may be in: the last whose cut finished, or (inside a cut) the one before too.
        let idx = 0;
        while (idx + 1 < epochs.length && epochs[idx + 1].to <= point) idx++;
        const allowed = [epochs[idx]];
        if (idx + 1 < epochs.length && epochs[idx + 1].from < point) allowed.push(epochs[idx + 1]);
        const ok = allowed.some((e) => got.every((r) => e.values.get(r.seqNum) === r.value));
        assert.ok(ok, `${where}: a record not of the log at that point: ${JSON.stringify(got.filter((r) => !allowed.some((e) => e.values.get(r.seqNum) === r.value)).slice(0, 3))}`);
        // A truncate(3) may have removed the front: the durable bound concerns the end only.
        // Inside a cut the log may be the one after it, which ends at its keep.
        if (allowed.length === 2) must = Math.min(must, allowed[1].keep);
        assert.ok(last >= must, `${where}: log ends at ${last}, durable through ${must}`);
        const s = await w.append("PUT", "after", "crash");
        assert.equal(s, last + 1, `${where}: next seq`);
        await w.close();
        const again = await WriteAheadLog.open(DIR, { fs: disk, syncMode, maxFileSize: MAX });
        assert.equal(again.currentSeqNum(), s, `${where}: reopen`);
        assert.equal((await again.read(s))?.value, "crash", `${where}: read after reopen`);
        await again.close();
      }
    }
    console.log(`cut_rotation_crash_test_test: ${states} crash states (${syncMode})`);
  });
}
