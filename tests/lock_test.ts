// The directory lock: another live process's lock refuses the open and names it; a dead process's lock is taken
// over; a second open in the same thread supersedes the first handle. More in lock_exclusion_test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { WalClosedError, WalLockedError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { runtimeBinary, spawnChild } from "./fixtures/child_writer.ts";
import { runtimeName, withTempDir } from "./helpers.ts";

/** The child's own bound: it lets go of the directory by itself if the test never kills it. */
const CHILD_MAX_MS = 20_000;

function lockPid(dir: string): string {
  return fs.readFileSync(path.join(dir, "LOCK"), "utf8").trim();
}

function isWalLocked(pid: number, dir: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof WalLockedError, `expected WalLockedError, got ${e}`);
    assert.equal(e.pid, pid);
    assert.equal(e.lockFile, path.join(dir, "LOCK"));
    assert.match(e.message, new RegExp(`process ${pid}\\b`));
    return true;
  };
}

function isWalClosed(e: unknown): boolean {
  assert.ok(e instanceof WalClosedError, `expected WalClosedError, got ${e}`);
  return true;
}

function keys(records: WalRecord[]): string[] {
  return records.map((r) => r.key);
}

/** The pid of a process that has run, exited and been reaped, so nothing runs under it now. */
async function deadPid(): Promise<number> {
  const proc = spawn(runtimeBinary("node"), ["-e", ""], { stdio: "ignore" });
  const pid = proc.pid;
  await new Promise<void>((resolve, reject) => {
    proc.on("error", reject);
    proc.on("close", () => resolve());
  });
  assert.ok(pid !== undefined);
  // The premise of the test: the pid is free (pids are not reused this fast in practice).
  assert.throws(() => process.kill(pid, 0), (e: unknown) => (e as { code?: string }).code === "ESRCH");
  return pid;
}

test("a live process's lock refuses the open and names its pid; once it is SIGKILLed the lock is taken over", {
  timeout: 60_000,
}, async () => {
  await withTempDir(async (dir) => {
    const runtime = runtimeName();
    const child = spawnChild(runtime, ["hold", dir, String(CHILD_MAX_MS)]);
    try {
      assert.equal(await child.ready, child.pid);
      assert.equal(lockPid(dir), String(child.pid));
      await assert.rejects(WriteAheadLog.open(dir), isWalLocked(child.pid, dir));
      // Refusing leaves the owner's lock in place, and a second try is refused the same way.
      assert.equal(lockPid(dir), String(child.pid));
      await assert.rejects(WriteAheadLog.open(dir, { syncMode: "none" }), isWalLocked(child.pid, dir));
    } finally {
      child.kill();
    }
    const end = await child.exited;
    assert.equal(end.signal, "SIGKILL", `the ${runtime} child ended by itself (code ${end.code}): ${end.stderr}`);
    // The dead child's LOCK is still there: the takeover below is what removes it.
    assert.equal(lockPid(dir), String(child.pid));

    const wal = await WriteAheadLog.open(dir);
    assert.equal(lockPid(dir), String(process.pid));
    assert.deepEqual(keys(await wal.replay()), ["held"]);
    assert.equal(await wal.append("PUT", "after", "takeover"), 2);
    await wal.close();
    // The file stays (deleting a lock file races with the next opener); the kernel lock on it is what was given up.
    assert.equal(lockPid(dir), String(process.pid));
  });
});

test("a LOCK file naming a pid that no longer runs is taken over", async () => {
  await withTempDir(async (dir) => {
    const first = await WriteAheadLog.open(dir);
    await first.append("PUT", "a", "1");
    await first.appendBatch([["PUT", "b", new Uint8Array([2])], ["DELETE", "a"]]);
    await first.close();
    const pid = await deadPid();
    fs.writeFileSync(path.join(dir, "LOCK"), String(pid));

    const wal = await WriteAheadLog.open(dir);
    assert.equal(lockPid(dir), String(process.pid));
    assert.deepEqual(keys(await wal.replay()), ["a", "b", "a"]);
    assert.equal(await wal.append("PUT", "c", "3"), 5);
    await wal.close();
  });
});

/** Every call of a superseded handle: each must reject with WalClosedError. */
async function assertRefusesEverything(old: WriteAheadLog, when: string): Promise<void> {
  const calls: [string, () => Promise<unknown>][] = [
    ["append", () => old.append("PUT", "late", "x")],
    ["appendBatch", () => old.appendBatch([["PUT", "late", "x"]])],
    ["checkpoint", () => old.checkpoint()],
    ["replay", () => old.replay()],
    ["replayStream", () => old.replayStream().next()],
    ["iterate", () => old.iterate().next()],
    ["truncate", () => old.truncate(1)],
    ["sync", () => old.sync()],
  ];
  for (const [name, call] of calls) {
    await assert.rejects(call(), isWalClosed, `${when}: ${name} on the superseded handle`);
  }
}

test("opening a directory this process holds supersedes the earlier handle", async () => {
  await withTempDir(async (dir) => {
    const old = await WriteAheadLog.open(dir, { syncMode: "sync" });
    assert.equal(await old.append("PUT", "k1", "v1"), 1);
    assert.equal(await old.appendBatch([["PUT", "k2", new Uint8Array([0, 255])], ["PUT", "k3", "v3"]]), 4);
    const together = await Promise.all([old.append("PUT", "k5", "v5"), old.append("DELETE", "k1")]);
    assert.deepEqual(together, [5, 6]);
    // In flight while the new open runs: each either lands before it (and is then recovered) or is refused.
    const inFlight = ["p1", "p2", "p3"].map((key) => old.append("PUT", key, key));
    const inFlightBatch = old.appendBatch([["PUT", "pb1", "x"], ["PUT", "pb2", "y"]]);

    const wal = await WriteAheadLog.open(dir, { syncMode: "sync" });
    const settled = await Promise.allSettled([...inFlight, inFlightBatch]);
    const recovered = await wal.replay();
    assert.deepEqual(recovered.slice(0, 5), [
      { seqNum: 1, opType: "PUT", key: "k1", value: "v1" },
      { seqNum: 2, opType: "PUT", key: "k2", value: new Uint8Array([0, 255]) },
      { seqNum: 3, opType: "PUT", key: "k3", value: "v3" },
      { seqNum: 5, opType: "PUT", key: "k5", value: "v5" },
      { seqNum: 6, opType: "DELETE", key: "k1", value: "" },
    ]);
    const bySeq = new Map(recovered.map((r) => [r.seqNum, r.key]));
    let last = 6;
    settled.forEach((s, i) => {
      // The batch resolves to its COMMIT's seq; its members sit just before it.
      const expected: [number, string][] = i < 3 ? [[0, `p${i + 1}`]] : [[-2, "pb1"], [-1, "pb2"]];
      if (s.status === "fulfilled") {
        last = Math.max(last, s.value);
        for (const [delta, key] of expected) {
          assert.equal(bySeq.get(s.value + delta), key, `${key} was acknowledged, so the new handle has it`);
        }
      } else {
        isWalClosed(s.reason);
        for (const [, key] of expected) {
          assert.ok(!keys(recovered).includes(key), `${key} was refused, so it must not be in the log`);
        }
      }
    });
    // Nothing past what was acknowledged: a refused append that still reached the files would show here.
    assert.equal(wal.currentSeqNum(), last);
    const next = last + 1;

    await assertRefusesEverything(old, "while the new handle is open");
    // Closing the superseded handle is a no-op: it must not release the lock the new handle holds.
    await old.close();
    assert.equal(lockPid(dir), String(process.pid));
    assert.equal(await wal.append("PUT", "new", "handle"), next);
    assert.equal(await wal.checkpoint(), next + 1);
    await wal.close();
    await assertRefusesEverything(old, "after the new handle closed");

    const reopened = await WriteAheadLog.open(dir);
    const all = await reopened.replay();
    assert.deepEqual(all.slice(0, 5), recovered.slice(0, 5));
    assert.deepEqual(all[all.length - 1], { seqNum: next, opType: "PUT", key: "new", value: "handle" });
    await reopened.close();
  });
});

test("the same directory reached through a symlink is the same lock: the earlier handle is superseded", async () => {
  await withTempDir(async (dir) => {
    const logDir = path.join(dir, "log");
    const link = path.join(dir, "link");
    fs.mkdirSync(logDir);
    fs.symlinkSync(logDir, link);
    const old = await WriteAheadLog.open(logDir);
    assert.equal(await old.append("PUT", "a", "1"), 1);
    const wal = await WriteAheadLog.open(link);
    await assertRefusesEverything(old, "after an open through the symlink");
    assert.equal(await wal.append("PUT", "b", "2"), 2);
    assert.deepEqual(keys(await wal.replay()), ["a", "b"]);
    await wal.close();
  });
});
