// Failures of the write path that no promise used to report, or that reported a written record as failed:
// a failed background fdatasync of "batch" mode, and ENOSPC while preallocating zeros in "sync" mode. Each is
// tested on the crash-simulating file system and, when the suite runs as root, on a real disk that fills up.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as nodeFs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { WalFailedError, WriteAheadLog } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import { removeDir, tempDir } from "./helpers.ts";

const DIR = "/wal";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits (without a time limit of its own: the runner's timeout applies) until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(5);
}

function failedWith(codes: readonly string[]): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof WalFailedError, `expected WalFailedError, got ${e}`);
    const code = (e.cause as { code?: unknown } | undefined)?.code;
    assert.ok(codes.includes(code as string), `the cause is ${code}, expected ${codes.join(" or ")}`);
    return true;
  };
}

test("batch mode: a failed background fdatasync fails the log; append, sync and close reject with its error", async () => {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open(DIR, { fs, syncMode: "batch", batchSyncCount: 1000, batchSyncIntervalMs: 5 });
  fs.inject({ op: "datasync", nth: 1, code: "EIO", pathIncludes: ".wal" });
  // Issued in one turn, so all 50 are acknowledged before the 5 ms timer can fire, however slow the machine.
  await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append("PUT", `k${i}`, "acknowledged, not yet synced")));
  // The interval timer's fdatasync runs and fails with no append waiting on it.
  await until(() => fs.history.some((e) => e.op === "failed"));
  await assert.rejects(wal.append("PUT", "late", "x"), failedWith(["EIO"]));
  await assert.rejects(wal.sync(), failedWith(["EIO"]));
  // The 50 acknowledged records were never synced: close must not resolve as if they were durable.
  await assert.rejects(wal.close(), failedWith(["EIO"]));
  await wal.close(); // a second close is a no-op
  // The handle released the directory: a reopen recovers what is there.
  const reopened = await WriteAheadLog.open(DIR, { fs: fs.clone() });
  assert.ok((await reopened.replay()).length <= 50);
  await reopened.close();
});

test("batch mode: close() after a successful background fdatasync resolves; later records get close's sync", async () => {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open(DIR, { fs, syncMode: "batch", batchSyncCount: 1000, batchSyncIntervalMs: 5 });
  await wal.append("PUT", "a", "1");
  await until(() => fs.history.some((e) => e.op === "datasync" && e.path.endsWith(".wal")));
  await wal.append("PUT", "b", "2");
  const syncs = fs.history.filter((e) => e.op === "datasync").length;
  await wal.close();
  assert.ok(fs.history.filter((e) => e.op === "datasync").length > syncs, "close did not fdatasync");
});

for (const partial of [0, 4096]) {
  test(`sync mode: ENOSPC while preallocating${partial ? " (after some zeros)" : ""} does not fail the written append`, async () => {
    const fs = new CrashFileSystem();
    const wal = await WriteAheadLog.open(DIR, { fs });
    // A fresh segment: the record's own write is call 1, the zeros after it call 2.
    fs.inject({ op: "append", nth: 2, code: "ENOSPC", partial, pathIncludes: ".wal" });
    assert.equal(await wal.append("PUT", "k1", "written before the disk filled"), 1);
    assert.equal(fs.history.filter((e) => e.op === "failed").length, 1, "the preallocation did not fail");
    // No zeros are left holding the disk's last space, and the log goes on with plain appends.
    const segment = fs.list(DIR).find((n) => n.endsWith(".wal"))!;
    const file = fs.openRead(`${DIR}/${segment}`);
    const size = file.size();
    file.close();
    for (let i = 2; i <= 20; i++) assert.equal(await wal.append("PUT", `k${i}`, "v"), i);
    const file2 = fs.openRead(`${DIR}/${segment}`);
    assert.ok(file2.size() > size, "later records were not appended");
    file2.close();
    await wal.close();
    // Every record exactly once, also after a crash right now (everything acknowledged was fdatasync'ed).
    for (const disk of [fs.clone(), fs.crashState(fs.history.length).materialize({})]) {
      const reopened = await WriteAheadLog.open(DIR, { fs: disk });
      const keys = (await reopened.replay()).map((r) => r.key);
      assert.deepEqual(keys, Array.from({ length: 20 }, (_, i) => `k${i + 1}`));
      await reopened.close();
    }
  });
}

// --- real disks (root only) ---

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** Why a root-only test cannot run here, or null when it can. */
function cannotMount(needLoop: boolean): string | null {
  if (process.platform !== "linux") return `needs Linux (this is ${process.platform})`;
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return "needs root (mount)";
  const probe = tempDir("wal-mnt-probe-");
  try {
    sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe);
    sh("umount", probe);
  } catch (e) {
    return `cannot mount a tmpfs: ${String(e).split("\n")[0]}`;
  } finally {
    removeDir(probe);
  }
  if (needLoop) {
    try {
      sh("losetup", "-f");
      sh("which", "mkfs.ext4");
    } catch {
      return "no free loop device or no mkfs.ext4";
    }
  }
  return null;
}

function skipWith(t: { skip: (why: string) => void }, why: string): void {
  console.log(`SKIP: ${why}`);
  t.skip(why);
}

test("real disk, batch mode: a background fdatasync failing on writeback (ext4 on a loop device that fills up) fails close()", async (t) => {
  const why = cannotMount(true);
  if (why !== null) return skipWith(t, why);
  const root = tempDir("wal-eio-");
  const backing = path.join(root, "backing");
  const mnt = path.join(root, "mnt");
  nodeFs.mkdirSync(backing);
  nodeFs.mkdirSync(mnt);
  let loop = "";
  try {
    sh("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", backing);
    const img = path.join(backing, "img");
    sh("truncate", "-s", "32m", img);
    sh("mkfs.ext4", "-q", "-O", "^has_journal", "-E", "lazy_itable_init=0", img);
    loop = sh("losetup", "-f", "--show", img);
    sh("mount", "-t", "ext4", loop, mnt);
    const dir = path.join(mnt, "log");
    const wal = await WriteAheadLog.open(dir, { syncMode: "batch", batchSyncIntervalMs: 20 });
    // Leave the loop device's backing store 512 KiB: 600 x 8 KB reach the page cache, never the disk.
    const used = Number(sh("du", "-k", img).split(/\s+/)[0]);
    sh("mount", "-o", `remount,size=${used + 512}k`, "tmpfs", backing);
    const value = new Uint8Array(8192).fill(7);
    // On a slow or busy machine a background fdatasync may already fail during the loop: then the next append
    // rejects with that failure, and the handle is failed just the same.
    let failure: unknown = null;
    for (let i = 0; i < 600 && failure === null; i++) {
      await wal.append("PUT", `k${i}`, value).catch((e: unknown) => failure = e);
    }
    if (failure !== null) {
      // The append whose own group's sync failed gets the OS error; later ones the WalFailedError carrying it.
      const code = failure instanceof WalFailedError
        ? (failure.cause as { code?: unknown } | undefined)?.code
        : (failure as { code?: unknown }).code;
      assert.ok(code === "EIO" || code === "ENOSPC", `an append failed with ${failure}`);
    } else {
      const before = wal.stats().fsyncs;
      await until(() => wal.stats().fsyncs > before);
      await sleep(5);
    }
    // ext4 reports the loop device's write error as EIO or, passing on its cause, ENOSPC.
    await assert.rejects(wal.close(), failedWith(["EIO", "ENOSPC"]));
  } finally {
    try {
      sh("umount", mnt);
    } catch { /* already gone */ }
    if (loop !== "") {
      try {
        sh("losetup", "-d", loop);
      } catch { /* already gone */ }
    }
    try {
      sh("umount", backing);
    } catch { /* already gone */ }
    removeDir(root);
  }
});

test("real disk, sync mode: a tmpfs filling up never reports a written record as failed", async (t) => {
  const why = cannotMount(false);
  if (why !== null) return skipWith(t, why);
  const mnt = tempDir("wal-full-");
  try {
    sh("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt);
    const dir = path.join(mnt, "log");
    let wal = await WriteAheadLog.open(dir);
    // Leave less free space than the 1 MiB of zeros preallocation asks for.
    const free = nodeFs.statfsSync(mnt).bavail * nodeFs.statfsSync(mnt).bsize;
    nodeFs.writeFileSync(path.join(mnt, "filler"), new Uint8Array(free - 256 * 1024));
    const acked: string[] = [];
    let rejected: string | null = null;
    for (let i = 0; i < 10_000 && rejected === null; i++) {
      const key = `k${i}`;
      try {
        await wal.append("PUT", key, "v".repeat(1000));
        acked.push(key);
      } catch {
        rejected = key;
      }
    }
    assert.ok(acked.length > 100, `only ${acked.length} appends before the disk was full`);
    assert.notEqual(rejected, null, "the disk never filled up");
    await wal.close().catch(() => {});
    // The administrator frees space; the log reopens with every acknowledged record and not the rejected one.
    nodeFs.rmSync(path.join(mnt, "filler"));
    wal = await WriteAheadLog.open(dir);
    const keys = (await wal.replay()).map((r) => r.key);
    assert.deepEqual(keys, acked, "the log does not hold exactly the acknowledged records");
    await wal.close();
  } finally {
    try {
      sh("umount", mnt);
    } catch { /* already gone */ }
    removeDir(mnt);
  }
});
