// A read-only handle beside a writer that cuts its tail (truncateAfter) and appends again: the segment is shortened
// in place and new records take the removed seqs, at the same offsets when they have the same size. refresh() and
// follow() must read the log as it is now, never an old record under a reused seq, never stall.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

const pick = (records: WalRecord[]) => records.map((r) => `${r.seqNum}:${r.key}:${r.value}`);

test("refresh() after the writer cut the tail and wrote same-size records where the old ones were", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none" });
    for (let i = 1; i <= 100; i++) await wal.append("PUT", `k${String(i).padStart(3, "0")}`, "old");
    const reader = await WriteAheadLog.openReadOnly(dir);
    assert.equal(reader.currentSeqNum(), 100);
    await wal.truncateAfter(60);
    // Same sizes as before: the record at the reader's old end is now seq 101, as it expects there.
    for (let i = 61; i <= 110; i++) await wal.append("PUT", `k${String(i).padStart(3, "0")}`, "new");
    assert.equal(await reader.refresh(), 110);
    assert.deepEqual(pick(await reader.replay()), pick(await wal.replay()));
    assert.equal((await reader.read(70))?.value, "new");
    // Only shortened, nothing appended after: refresh sees the shorter log.
    await wal.truncateAfter(80);
    assert.equal(await reader.refresh(), 80);
    assert.deepEqual(pick(await reader.replay()), pick(await wal.replay()));
    await reader.close();
    await wal.close();
  });
});

test("a read-only follower ends with WalTruncatedError (after) when the writer cuts the tail it followed", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none" });
    for (let i = 1; i <= 50; i++) await wal.append("PUT", `k${i}`, "old");
    const reader = await WriteAheadLog.openReadOnly(dir);
    const follower = reader.follow({ afterSeq: 0, pollMs: 5 });
    for (let i = 1; i <= 50; i++) assert.equal((await follower.next()).value?.seqNum, i);
    const waiting = follower.next();
    await wal.truncateAfter(20);
    for (let i = 21; i <= 70; i++) await wal.append("PUT", `k${i}`, "new");
    await assert.rejects(waiting, (e) => e instanceof WalTruncatedError && e.after && e.position === 50);
    // A new follower reads the log as it is now.
    const again = reader.follow({ afterSeq: 20, pollMs: 5 });
    const seen: WalRecord[] = [];
    for (let i = 0; i < 50; i++) seen.push((await again.next()).value as WalRecord);
    assert.deepEqual(pick(seen), pick((await wal.replay({ afterSeq: 20 }))));
    await reader.close();
    await wal.close();
  });
});
