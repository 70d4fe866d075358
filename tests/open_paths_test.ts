// How a handle reaches its directory, and what can stand where LOCK should be: a relative path after a chdir, a
// symlink switched to another directory, a directory deleted and made anew, a LOCK that is a symbolic link or a
// special file, and a handle superseded with acknowledged but unsynced records.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { WalError, WalFormatError, WalLockedError, WriteAheadLog } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import { runtimeName, segmentFiles, tempDir, withTempDir } from "./helpers.ts";

test("a handle opened by a relative path keeps writing to that directory after a chdir", async () => {
  const a = tempDir();
  const b = tempDir();
  const cwd = process.cwd();
  try {
    fs.mkdirSync(path.join(b, "data"));
    process.chdir(a);
    const wal = await WriteAheadLog.open("data", { maxFileSize: 4096 });
    for (let i = 1; i <= 5; i++) await wal.append("PUT", `k${i}`, "v".repeat(1000));
    process.chdir(b);
    for (let i = 6; i <= 20; i++) assert.equal(await wal.append("PUT", `k${i}`, "v".repeat(1000)), i);
    await wal.close();
    assert.deepEqual(fs.readdirSync(path.join(b, "data")), [], "nothing was written to the other directory");
    const reopened = await WriteAheadLog.open(path.join(a, "data"), { recovery: "strict" });
    assert.equal(reopened.currentSeqNum(), 20);
    assert.equal((await reopened.replay()).length, 20);
    await reopened.close();
  } finally {
    process.chdir(cwd);
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  }
});

test("a handle opened through a symlink keeps its directory when the link is switched to another log", async () => {
  await withTempDir(async (root) => {
    const v1 = path.join(root, "v1");
    const v2 = path.join(root, "v2");
    const current = path.join(root, "current");
    const other = await WriteAheadLog.open(v2);
    await other.append("PUT", "v2", "first");
    await other.close();
    fs.mkdirSync(v1);
    fs.symlinkSync(v1, current);
    const wal = await WriteAheadLog.open(current, { maxFileSize: 4096 });
    for (let i = 1; i <= 6; i++) await wal.append("PUT", `k${i}`, "v".repeat(1000));
    fs.unlinkSync(current);
    fs.symlinkSync(v2, current);
    for (let i = 7; i <= 11; i++) assert.equal(await wal.append("PUT", `k${i}`, "v".repeat(1000)), i);
    await wal.close();
    const one = await WriteAheadLog.open(v1, { recovery: "strict" });
    assert.equal(one.currentSeqNum(), 11, "every acknowledged record is in the directory the handle opened");
    await one.close();
    const two = await WriteAheadLog.open(v2, { recovery: "strict" });
    assert.deepEqual((await two.replay()).map((r) => r.key), ["v2"], "the other log is untouched");
    assert.ok(two.recovery.clean);
    await two.close();
  });
});

test("a directory deleted and made anew under the same path is locked afresh, not through the old handle", async () => {
  await withTempDir(async (root) => {
    const dir = path.join(root, "log");
    const first = await WriteAheadLog.open(dir);
    await first.append("PUT", "old", "1");
    fs.rmSync(dir, { recursive: true });
    const second = await WriteAheadLog.open(dir);
    assert.ok(fs.existsSync(path.join(dir, "LOCK")), "the new directory has a LOCK of its own");
    await second.append("PUT", "new", "1");
    // Another thread must be refused: the kernel lock is the new handle's.
    const other = await import("node:worker_threads");
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      import(workerData.mod).then(async ({ WriteAheadLog }) => {
        try { const w = await WriteAheadLog.open(workerData.dir); await w.close(); parentPort.postMessage("opened"); }
        catch (e) { parentPort.postMessage(e.name); }
      });`;
    const mod = new URL("../mod.ts", import.meta.url).href;
    const result = await new Promise<string>((resolve, reject) => {
      const w = new other.Worker(code, { eval: true, workerData: { dir, mod } });
      w.once("message", (m) => {
        resolve(String(m));
        void w.terminate();
      });
      w.once("error", reject);
    });
    assert.equal(result, "WalLockedError");
    await second.close();
    await first.close().catch(() => {});
  });
});

test("superseding a batch-mode handle makes its acknowledged records durable", async () => {
  const disk = new CrashFileSystem({ seed: 3 });
  const first = await WriteAheadLog.open("/wal", { fs: disk, syncMode: "batch", batchSyncIntervalMs: 100_000 });
  for (let i = 1; i <= 3; i++) assert.equal(await first.append("PUT", `k${i}`, "v"), i);
  const second = await WriteAheadLog.open("/wal", { fs: disk, syncMode: "batch" });
  await first.close();
  // A power cut now: everything no fdatasync covered is lost.
  const state = disk.crashState(disk.history.length);
  const after = state.materialize({ keep: state.files.map(() => 0), applied: state.dirOps.map(() => false) });
  const reopened = await WriteAheadLog.open("/wal", { fs: after, recovery: "strict" });
  assert.equal((await reopened.replay()).length, 3, "the superseded handle's acknowledged records survive");
  await reopened.close();
  await second.close();
});

test("a LOCK that is a symbolic link is refused; its target is never written", async () => {
  await withTempDir(async (dir) => {
    const victim = path.join(dir, "..", `${path.basename(dir)}-victim.txt`);
    fs.writeFileSync(victim, "precious contents\n".repeat(60));
    try {
      fs.symlinkSync(victim, path.join(dir, "LOCK"));
      const error = await WriteAheadLog.open(dir).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof WalFormatError, `expected WalFormatError, got ${error}`);
      assert.match(error.message, /symbolic link/);
      assert.equal(fs.readFileSync(victim, "utf8"), "precious contents\n".repeat(60));
    } finally {
      fs.rmSync(victim, { force: true });
    }
  });
});

/** Descriptors of this process into `dir` (Linux), or null when they cannot be listed. */
function openFilesIn(dir: string): string[] | null {
  let fds: string[];
  try {
    fds = fs.readdirSync("/proc/self/fd");
  } catch {
    return null;
  }
  const out: string[] = [];
  for (const fd of fds) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + "/")) out.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

test("a LOCK that is a FIFO, a socket-like special file or a dangling link gets a WalError and leaks nothing", async () => {
  const kinds: [string, (lock: string, dir: string) => boolean][] = [
    ["fifo", (lock) => spawnSync("mkfifo", [lock]).status === 0],
    ["link to /dev/null", (lock) => (fs.symlinkSync("/dev/null", lock), true)],
    ["dangling link", (lock, dir) => (fs.symlinkSync(path.join(dir, "nowhere"), lock), true)],
  ];
  for (const [kind, make] of kinds) {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir);
      await wal.append("PUT", "k", "v");
      await wal.close();
      fs.rmSync(path.join(dir, "LOCK"));
      if (!make(path.join(dir, "LOCK"), dir)) {
        console.log(`skipped the ${kind} case: it could not be made here`);
        return;
      }
      const error = await WriteAheadLog.open(dir).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof WalError, `${kind}: expected a WalError, got ${error}`);
      assert.ok(!(error instanceof WalLockedError), `${kind}: nobody holds it`);
      const left = openFilesIn(dir);
      if (left !== null) assert.deepEqual(left, [], `${kind}: descriptors left open`);
      assert.ok(segmentFiles(dir).length === 1);
    });
  }
  if (runtimeName() === "deno") console.log("(descriptor counts need --allow-all on Deno; skipped there if not granted)");
});
