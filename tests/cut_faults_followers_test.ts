// Adversarial: truncateAfter meeting I/O faults, and what followers, reads and a later crash + strict open see.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

async function settledWithin<T>(p: Promise<T>, n: number): Promise<string> {
  let outcome = "pending";
  p.then((v) => (outcome = `resolved ${JSON.stringify(v)}`), (e) => (outcome = `rejected ${e?.code ?? e}`));
  await turns(n);
  return outcome;
}

for (const nth of [1, 2, 3]) {
  test(`an fdatasync failing inside truncateAfter (datasync #${nth}) ends a waiting follower with WAL_FAILED`, async () => {
    const fs = new CrashFileSystem();
    const wal = await WriteAheadLog.open("/wal", { fs, syncMode: "sync", io: "inline" });
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, "v");
    const follower = wal.follow();
    for (let i = 1; i <= 10; i++) assert.equal((await follower.next()).value?.seqNum, i);
    const waiting = follower.next();
    fs.inject({ op: "datasync", nth, code: "EIO" });
    await assert.rejects(wal.truncateAfter(5));
    // The handle is failed now: the follower must learn it, not wait for a wake-up that never comes.
    assert.equal(await settledWithin(waiting, 20), "rejected WAL_FAILED");
    await wal.close().catch(() => {});
  });
}

test("every fault point of truncateAfter, then a crash and a strict open: the log is as before or as after", async () => {
  const before: WalRecord[] = [];
  let faults = 0;
  for (let nth = 1; nth <= 8; nth++) {
    for (const op of ["datasync", "append"] as const) {
      const fs = new CrashFileSystem({ seed: nth });
      const wal = await WriteAheadLog.open("/wal", { fs, syncMode: "batch", maxFileSize: 1024 });
      before.length = 0;
      for (let i = 1; i <= 30; i++) await wal.append("PUT", `k${i}`, "v".repeat(40) + i);
      await wal.sync();
      fs.inject({ op, nth, code: "EIO" });
      let failed = false;
      try {
        await wal.truncateAfter(12);
      } catch {
        failed = true;
      }
      if (failed) faults++;
      fs.clearFaults();
      await wal.close().catch(() => {});
      const state = fs.crashState(fs.history.length);
      for (let v = 0; v < 4; v++) {
        const disk = state.materialize(state.randomChoice());
        const again = await WriteAheadLog.open("/wal", { fs: disk, recovery: "strict" } as never);
        const last = again.currentSeqNum();
        assert.ok(last === 30 || last === 12, `fault ${op} #${nth}: log ends at ${last}, neither 30 nor 12`);
        const recs = await again.replay();
        assert.equal(recs.length, last);
        assert.equal(await again.append("PUT", "next", "x"), last + 1);
        await again.close();
      }
    }
  }
  assert.ok(faults > 0);
});

test("a truncateAfter that fails after its marker is durable: a follower behind never yields a seq the cut removes", async () => {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open("/wal", { fs, syncMode: "sync", io: "inline" });
  for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, "v");
  const follower = wal.follow();
  assert.equal((await follower.next()).value?.seqNum, 1); // it has read 2..10 into its chunk
  // datasync #1: the kept segment; #2: the marker; #3: the cut segment, after its ftruncate.
  fs.inject({ op: "datasync", nth: 3, code: "EIO" });
  await assert.rejects(wal.truncateAfter(5));
  const seen: string[] = [];
  try {
    for (;;) {
      const r = await follower.next();
      if (r.done) break;
      seen.push(`${r.value.seqNum}`);
      if (seen.length > 20) break;
    }
  } catch (e) {
    seen.push(`threw ${(e as { code?: string }).code}`);
  }
  await wal.close().catch(() => {});
  const disk = fs.crashState(fs.history.length).materialize({});
  const again = await WriteAheadLog.open("/wal", { fs: disk });
  const last = again.currentSeqNum();
  await again.close();
  assert.equal(last, 5, "the marker was durable: the reopen finishes the cut");
  const beyond = seen.filter((s) => !s.startsWith("threw") && Number(s) > last);
  assert.deepEqual(beyond, [], `the follower yielded ${seen.join(",")}`);
});

test("an fdatasync failing inside truncate(n) (front) ends a waiting follower with WAL_FAILED", async () => {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open("/wal", { fs, syncMode: "sync", io: "inline" });
  for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, "v");
  const follower = wal.follow();
  for (let i = 1; i <= 10; i++) assert.equal((await follower.next()).value?.seqNum, i);
  const waiting = follower.next();
  fs.inject({ op: "datasync", nth: 2, code: "EIO" }); // #1: the marker; #2: the copy of the kept records
  await assert.rejects(wal.truncate(5));
  await assert.rejects(wal.append("PUT", "x", "y"), (e) => (e as { code?: string }).code === "WAL_FAILED");
  assert.equal(await settledWithin(waiting, 20), "rejected WAL_FAILED");
  await wal.close().catch(() => {});
});
