// "After truncateAfter the next record starts a new segment" (no handle writes the cut segment again, also one
// opened after the cut), so a read-only follower notices the cut whenever it looks.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { WriteAheadLog } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { segmentFiles, stepOutcome, withTempDir } from "./helpers.ts";

const names = (dir: string): string[] => segmentFiles(dir).map((p) => path.basename(p));

for (const syncMode of ["sync", "batch", "none"] as const) {
  test(`truncateAfter then a front truncate: the next append still starts a new segment (${syncMode})`, async () => {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { syncMode, maxFileSize: 400 });
      for (let i = 1; i <= 20; i++) await wal.append("PUT", `k${String(i).padStart(2, "0")}`, `old${String(i).padStart(2, "0")}`);
      await wal.sync();
      const before = names(dir);
      assert.ok(before.length >= 2, `premise: several segments (${before})`);
      const last = before[before.length - 1];
      const lastFirst = Number(last.slice(0, 20));
      // Cut inside the newest segment, leaving it some records.
      const n = lastFirst + 1;
      assert.ok(n < 20, "premise: the cut leaves records in the newest segment");
      await wal.truncateAfter(n);
      // A front truncate that keeps the cut segment as it is (it removes whole older segments only).
      await wal.truncate(lastFirst - 1);
      await wal.append("PUT", "new", "x");
      await wal.sync();
      const after = names(dir);
      assert.ok(after.includes(String(n + 1).padStart(20, "0") + ".wal"), `record ${n + 1} starts a new segment; segments: ${after}`);
      await wal.close();
    });
  });
}

test("read-only follower: truncateAfter + truncate + rewrite in place ends it with WalTruncatedError", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    const key = (i: number): string => `k${String(i).padStart(2, "0")}`;
    for (let i = 1; i <= 20; i++) await wal.append("PUT", key(i), `old${String(i).padStart(2, "0")}`);
    const segs = names(dir);
    const lastFirst = Number(segs[segs.length - 1].slice(0, 20));
    assert.ok(lastFirst < 19, `premise: newest segment holds several records (${segs})`);
    const reader = await WriteAheadLog.openReadOnly(dir);
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 5 });
    const seen: string[] = [];
    for (let i = 1; i <= 20; i++) {
      const r = await it.next();
      seen.push(`${r.value?.seqNum}:${r.value?.value}`);
    }
    assert.equal(seen[19], "20:old20");
    // The follower is not waiting: no look happens while the writer works.
    const n = lastFirst + 1;
    await wal.truncateAfter(n);
    await wal.truncate(lastFirst - 1);
    for (let i = n + 1; i <= 19; i++) await wal.append("PUT", key(i), `NEW${String(i).padStart(2, "0")}`);
    await wal.append("PUT", key(20), "old20");
    await wal.append("PUT", key(21), "new21");
    const outcome = await stepOutcome(it.next());
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(outcome, "WalTruncatedError", `records ${n + 1}..19 it yielded were replaced`);
  });
});

// The writer process restarted after its cut (as a raft node does) and wrote the same seqs again, the last one
// byte-identical to the one the follower read last. The reader has no watch, so it looks only when stepped, after
// all of it: only the cut segment's size can tell it (were the records written in place, nothing could).
test("read-only follower: truncateAfter, writer restart, rewrite in place ends it with WalTruncatedError", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${String(i).padStart(2, "0")}`, `old${String(i).padStart(2, "0")}`);
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 5 });
    for (let i = 1; i <= 10; i++) assert.equal((await it.next()).value?.seqNum, i);
    await wal.truncateAfter(5);
    await wal.close();
    wal = await WriteAheadLog.open(dir);
    for (let i = 6; i <= 9; i++) await wal.append("PUT", `k${String(i).padStart(2, "0")}`, `NEW${String(i).padStart(2, "0")}`);
    await wal.append("PUT", "k10", "old10");
    await wal.append("PUT", "k11", "new11");
    const outcome = await stepOutcome(it.next());
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(outcome, "WalTruncatedError", "records 6..9 it yielded were replaced");
  });
});
