// Write and fsync failures (ENOSPC, EIO) injected through the crash-simulating file system: the failing call
// rejects with the OS error itself, the handle then refuses everything with WalFailedError and never retries,
// acknowledged records stay intact, and a reopen (with or without a crash) recovers to what is durable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalClosedError, WalFailedError, WriteAheadLog } from "../mod.ts";
import type { WalOptions, WalRecord } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import type { Fault } from "../src/io/crash_fs.ts";

const DIR = "/wal";

function hasCode(code: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(!(e instanceof WalFailedError), `expected the OS error itself, got ${e}`);
    assert.equal((e as { code?: unknown }).code, code);
    return true;
  };
}

/**
 * Every call of a failed handle rejects with WalFailedError whose cause is the OS error. close releases the
 * handle either way; it rejects too when records it acknowledged were never synced (`ackedUnsynced`).
 */
async function expectFailed(wal: WriteAheadLog, code: string, ackedUnsynced = false): Promise<void> {
  const calls: [string, () => Promise<unknown>][] = [
    ["append", () => wal.append("PUT", "late", "x")],
    ["appendBatch", () => wal.appendBatch([["PUT", "late", "x"]])],
    ["checkpoint", () => wal.checkpoint()],
    ["sync", () => wal.sync()],
    ["truncate", () => wal.truncate(1)],
    ["replay", () => wal.replay()],
    ["iterate", () => wal.iterate().next()],
  ];
  for (const [name, call] of calls) {
    await assert.rejects(call(), (e: unknown) => {
      assert.ok(e instanceof WalFailedError, `${name}: expected WalFailedError, got ${e}`);
      assert.equal((e.cause as { code?: unknown }).code, code, `${name}: the cause is not the ${code} error`);
      return true;
    });
  }
  if (ackedUnsynced) {
    await assert.rejects(wal.close(), (e: unknown) => {
      assert.ok(e instanceof WalFailedError, `close: expected WalFailedError, got ${e}`);
      assert.equal((e.cause as { code?: unknown }).code, code, "close: the cause is not the OS error");
      return true;
    });
  }
  await wal.close();
}

/** After `mark`, the failed handle touched no file but its LOCK: nothing was retried. */
function assertNoRetry(fs: CrashFileSystem, mark: number): void {
  for (const e of fs.history.slice(mark)) {
    assert.ok(e.path.endsWith("/LOCK") || e.op === "syncDir", `the failed handle went on with ${e.op} on ${e.path}`);
  }
}

type Written = [key: string, value: string];

async function writeAcked(wal: WriteAheadLog, n: number, prefix = "k"): Promise<Written[]> {
  const out: Written[] = [];
  for (let i = 0; i < n; i++) {
    out.push([`${prefix}${i}`, `${i}:` + "x".repeat((i * 37) % 150)]);
    await wal.append("PUT", out[i][0], out[i][1]);
  }
  return out;
}

function asRecords(written: Written[], firstSeq = 1): WalRecord[] {
  return written.map(([key, value], i) => ({ seqNum: firstSeq + i, opType: "PUT", key, value }));
}

/** Opens `fs`, checks its records start with `acked` and then hold at most `maybe`, appends once, reads it back. */
async function reopenAndCheck(
  fs: CrashFileSystem,
  acked: Written[],
  maybe: Written[] = [],
  options: WalOptions = {},
): Promise<WalRecord[]> {
  const wal = await WriteAheadLog.open(DIR, { ...options, fs });
  const records = await wal.replay();
  assert.deepEqual(records.slice(0, acked.length), asRecords(acked), "acknowledged records changed");
  const extra = records.slice(acked.length);
  assert.deepEqual(extra, asRecords(maybe, acked.length + 1).slice(0, extra.length), "records that were never written");
  const seq = await wal.append("PUT", "after", "reopen");
  assert.equal(seq, wal.currentSeqNum());
  assert.deepEqual(await wal.replay({ afterSeq: seq - 1 }), [{
    seqNum: seq,
    opType: "PUT",
    key: "after",
    value: "reopen",
  }]);
  await wal.close();
  return records;
}

/**
 * Disks a power cut right now could leave: the unsynced bytes of every file lost, kept, or torn at the same
 * offset (each byte for short tails, ends and a stride for long ones); pending directory changes made.
 */
function* crashDisks(fs: CrashFileSystem): Generator<CrashFileSystem> {
  const state = fs.crashState(fs.history.length);
  const applied = state.dirOps.map(() => true);
  const most = Math.max(0, ...state.files.map((f) => f.units));
  const stride = most <= 200 ? 1 : Math.ceil(most / 64);
  for (let keep = 0; keep <= most; keep++) {
    if (keep % stride === 0 || keep < 40 || keep > most - 40) {
      yield state.materialize({ keep: state.files.map(() => keep), applied });
    }
  }
}

for (const code of ["ENOSPC", "EIO"]) {
  for (const partial of [0, 10]) {
    test(`${code} on write${partial > 0 ? " after a short write" : ""}: the append rejects, acknowledged records survive`, async () => {
      const fs = new CrashFileSystem();
      const wal = await WriteAheadLog.open(DIR, { fs });
      const acked = await writeAcked(wal, 12);
      fs.inject({ op: "append", nth: 1, code, partial, pathIncludes: ".wal" });
      await assert.rejects(wal.append("PUT", "lost", "never acknowledged"), hasCode(code));
      const mark = fs.history.length;
      await expectFailed(wal, code);
      assertNoRetry(fs, mark);
      const same = fs.clone(); // the disk as the process sees it, without a crash
      const reopened = await WriteAheadLog.open(DIR, { fs: same });
      // A short write leaves a torn record: the reopen cuts it as a torn tail.
      assert.equal(reopened.recovery.actions.some((a) => a.action === "cut-tail"), partial > 0);
      await reopened.close();
      await reopenAndCheck(same, acked);
      for (const disk of crashDisks(fs)) await reopenAndCheck(disk, acked);
    });
  }

  test(`${code} on write of a group: every append of the group rejects with it, later ones with WalFailedError`, async () => {
    const fs = new CrashFileSystem();
    const wal = await WriteAheadLog.open(DIR, { fs });
    const acked = await writeAcked(wal, 5);
    fs.inject({ op: "append", nth: 1, code, pathIncludes: ".wal" });
    const group = [
      wal.append("PUT", "a", "1"),
      wal.appendBatch([["PUT", "b", "2"], ["PUT", "c", "3"]]),
      wal.checkpoint(),
    ];
    const settled = await Promise.allSettled(group);
    for (const s of settled) {
      assert.equal(s.status, "rejected");
      hasCode(code)((s as PromiseRejectedResult).reason);
    }
    await expectFailed(wal, code);
    await reopenAndCheck(fs.clone(), acked);
    for (const disk of crashDisks(fs)) await reopenAndCheck(disk, acked);
  });
}

test("EIO on fdatasync: the append rejects with EIO, the handle fails, nothing is retried, reopen recovers", async () => {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open(DIR, { fs });
  const acked = await writeAcked(wal, 20);
  fs.inject({ op: "datasync", nth: 1, code: "EIO", pathIncludes: ".wal" });
  const failing = wal.append("PUT", "unsure", "written, never synced");
  // Queued after the failing flush: refused by the failed handle, never written.
  const later = failing.catch(() => wal.append("PUT", "later", "refused"));
  await assert.rejects(failing, hasCode("EIO"));
  await assert.rejects(later, WalFailedError);
  const mark = fs.history.length;
  await expectFailed(wal, "EIO");
  assertNoRetry(fs, mark);
  // Without a crash the written bytes may still be read back; with one, only what a datasync covered is certain.
  const maybe: Written[] = [["unsure", "written, never synced"]];
  await reopenAndCheck(fs.clone(), acked, maybe);
  let lost = 0;
  for (const disk of crashDisks(fs)) {
    const records = await reopenAndCheck(disk, acked, maybe);
    if (records.length === acked.length) lost++;
  }
  assert.ok(lost > 0, "some crash must lose the unsynced record: the check would be vacuous");
});

test("EIO on fdatasync of a batch: after any crash the batch is all there or not at all", async () => {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open(DIR, { fs });
  const acked = await writeAcked(wal, 8);
  fs.inject({ op: "datasync", nth: 1, code: "EIO", pathIncludes: ".wal" });
  const ops: [string, string, string][] = [["PUT", "x", "1".repeat(40)], ["PUT", "y", "2".repeat(40)], [
    "PUT",
    "z",
    "3",
  ]];
  await assert.rejects(wal.appendBatch(ops), hasCode("EIO"));
  await expectFailed(wal, "EIO");
  const seen = new Set<number>();
  for (const disk of crashDisks(fs)) {
    const records = await reopenAndCheck(disk, acked, [["x", ops[0][2]], ["y", ops[1][2]], ["z", ops[2][2]]]);
    assert.ok(
      records.length === acked.length || records.length === acked.length + 3,
      `half a batch: ${records.length}`,
    );
    seen.add(records.length);
  }
  assert.deepEqual([...seen].sort((a, b) => a - b), [acked.length, acked.length + 3]);
});

test("EIO on the fdatasync before a rotation: no new segment is started, reopen recovers", async () => {
  const fs = new CrashFileSystem();
  const options = { maxFileSize: 4096 };
  const wal = await WriteAheadLog.open(DIR, { ...options, fs });
  const acked = await writeAcked(wal, 30);
  const segments = () => fs.list(DIR).filter((n) => n.endsWith(".wal")).length;
  assert.equal(segments(), 1);
  fs.inject({ op: "datasync", nth: 1, code: "EIO" });
  // The first queued record still fits; the second does not, so this flush syncs the old segment, then rotates.
  const fits = wal.append("PUT", "fits", "a");
  const rotates = wal.append("PUT", "rotates", "b".repeat(4000));
  await assert.rejects(fits, hasCode("EIO"));
  await assert.rejects(rotates, hasCode("EIO"));
  assert.equal(segments(), 1, "a segment was started after the old one failed to sync");
  await expectFailed(wal, "EIO");
  await reopenAndCheck(fs.clone(), acked, [["fits", "a"]], options);
  for (const disk of crashDisks(fs)) await reopenAndCheck(disk, acked, [["fits", "a"]], options);
});

test("EIO on fdatasync in batch mode: the append that triggers the sync rejects, the handle fails", async () => {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open(DIR, { fs, syncMode: "batch", batchSyncCount: 3, batchSyncIntervalMs: 60_000 });
  const first = await writeAcked(wal, 3); // the third append syncs
  fs.inject({ op: "datasync", nth: 1, code: "EIO", pathIncludes: ".wal" });
  await wal.append("PUT", "b0", "unsynced");
  await wal.append("PUT", "b1", "unsynced");
  await assert.rejects(wal.append("PUT", "b2", "triggers the sync"), hasCode("EIO"));
  await expectFailed(wal, "EIO", true); // b0 and b1 were acknowledged, never synced
  const maybe: Written[] = [["b0", "unsynced"], ["b1", "unsynced"], ["b2", "triggers the sync"]];
  for (const disk of crashDisks(fs)) await reopenAndCheck(disk, first, maybe);
});

for (
  const fault of [
    { op: "append", code: "ENOSPC", pathIncludes: ".tmp" },
    { op: "datasync", code: "EIO", pathIncludes: ".tmp" },
  ] as const
) {
  test(`${fault.code} on ${fault.op} during truncate: it rejects, the handle fails, reopen shows before or after`, async () => {
    const fs = new CrashFileSystem();
    const options = { maxFileSize: 4096 };
    const wal = await WriteAheadLog.open(DIR, { ...options, fs });
    const acked = await writeAcked(wal, 120);
    const firsts = fs.list(DIR).filter((n) => n.endsWith(".wal")).map((n) => Number(n.slice(0, 20)));
    assert.ok(firsts.length >= 3 && !firsts.includes(51), "the truncate must straddle an older segment");
    // The first temporary file is the TRUNCATE marker; the second is the kept part of the straddling segment.
    fs.inject({ ...fault, nth: 2 } as Fault);
    await assert.rejects(wal.truncate(50), hasCode(fault.code));
    const mark = fs.history.length;
    await expectFailed(wal, fault.code);
    assertNoRetry(fs, mark);
    const check = async (disk: CrashFileSystem) => {
      const reopened = await WriteAheadLog.open(DIR, { ...options, fs: disk });
      const records = await reopened.replay();
      const before = asRecords(acked);
      const after = before.slice(50);
      assert.ok(
        records.length === before.length || records.length === after.length,
        `neither before nor after: ${records.length}`,
      );
      assert.deepEqual(records, records.length === before.length ? before : after);
      assert.deepEqual(disk.list(DIR).filter((n) => n.endsWith(".tmp")), [], "a temporary file was left behind");
      await reopened.close();
      return records.length;
    };
    const outcomes = new Set<number>([await check(fs.clone())]);
    for (const disk of crashDisks(fs)) outcomes.add(await check(disk));
    // The marker was durable when the fault hit, so every reopen finishes the truncate.
    assert.deepEqual([...outcomes], [70]);
  });
}

for (const how of ["sync", "close"] as const) {
  test(`EIO on the fdatasync of ${how}(): it rejects with EIO and nothing is retried; reopen recovers`, async () => {
    const fs = new CrashFileSystem();
    const wal = await WriteAheadLog.open(DIR, { fs, syncMode: "none" });
    const acked = await writeAcked(wal, 10); // written to the OS, never synced
    fs.inject({ op: "datasync", nth: 1, code: "EIO", pathIncludes: ".wal" });
    await assert.rejects(how === "sync" ? wal.sync() : wal.close(), hasCode("EIO"));
    const mark = fs.history.length;
    if (how === "sync") await expectFailed(wal, "EIO", true); // the 10 acknowledged records were never synced
    else await assert.rejects(wal.append("PUT", "late", "x"), WalClosedError);
    assertNoRetry(fs, mark);
    // syncMode "none" promised nothing durable: any prefix may survive a crash, and every record is whole.
    for (const disk of crashDisks(fs)) await reopenAndCheck(disk, [], acked);
    await reopenAndCheck(fs.clone(), acked);
  });
}
