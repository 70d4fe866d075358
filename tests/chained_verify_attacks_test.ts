// Adversarial checks of open's chained verification (one CRC-32 per run of records, walked in WebAssembly over a
// read chunk that is one per-thread memory shared by every scan).
//
// The scan reads segment bytes through the `fs` option's `WalFile.read`, which is the caller's code and may run
// anything synchronously, including another log's open: the sync prefix of `ReadOnlyLog.open` with an `fs` scans
// that log at once. Before the shared chunk, each open had its own read buffer, so a nested open could not
// touch the outer one's bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalCorruptionError, WriteAheadLog } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import type { OpenWriteOptions, WalFile, WalFileSystem } from "../src/io/types.ts";

/** Writes `n` records to a new log in `dir` of `fs`; returns their values. */
async function writeLog(fs: CrashFileSystem, dir: string, n: number, tag: string): Promise<string[]> {
  const wal = await WriteAheadLog.open(dir, { fs, syncMode: "none" });
  const values: string[] = [];
  for (let i = 0; i < n; i++) values.push(`${tag}-${i}-${"v".repeat(i % 97)}`);
  await Promise.all(values.map((v, i) => wal.append("PUT", `k${i}`, v)));
  await wal.close();
  return values;
}

/**
 * A file system whose reads of `watched`'s segments call `hook` after the bytes are in place: an instrumented
 * or layered fs. Everything else passes through.
 */
function hookedFs(inner: CrashFileSystem, watched: string, hook: () => void): WalFileSystem {
  let busy = false;
  const wrap = (file: WalFile, path: string): WalFile => ({
    append: (d) => file.append(d),
    writeAt: (d, p) => file.writeAt(d, p),
    read(into: Uint8Array, position: number): number {
      const n = file.read(into, position);
      if (!busy && path.startsWith(watched + "/") && path.endsWith(".wal")) {
        busy = true;
        try {
          hook();
        } finally {
          busy = false;
        }
      }
      return n;
    },
    datasync: () => file.datasync(),
    size: () => file.size(),
    truncate: (l) => file.truncate(l),
    close: () => file.close(),
  });
  return {
    join: (d, n) => inner.join(d, n),
    realPath: (p) => inner.realPath(p),
    mkdirp: (d) => inner.mkdirp(d),
    list: (d) => inner.list(d),
    exists: (p) => inner.exists(p),
    openRead: (p) => wrap(inner.openRead(p), p),
    openWrite: (p: string, o: OpenWriteOptions) => wrap(inner.openWrite(p, o), p),
    readFile: (p) => inner.readFile(p),
    rename: (a, b) => inner.rename(a, b),
    fileKind: (p) => inner.fileKind(p),
    remove: (p) => inner.remove(p),
    syncDir: (d) => inner.syncDir(d),
    pid: () => inner.pid(),
    processAlive: (p) => inner.processAlive(p),
    lockFile: (p) => inner.lockFile(p),
  };
}

test("open of a clean log stays clean when a read of it runs another log's open (shared scan memory)", async () => {
  const inner = new CrashFileSystem();
  const values = await writeLog(inner, "/a", 3000, "a");
  await writeLog(inner, "/b", 3000, "b");
  const nested: Promise<unknown>[] = [];
  // During each read of /a, open /b read-only: its scan runs synchronously, before the first await.
  const fs = hookedFs(inner, "/a", () => {
    nested.push(WriteAheadLog.openReadOnly("/b", { fs: inner }).then((r) => r.close()));
  });
  let wal: WriteAheadLog;
  try {
    wal = await WriteAheadLog.open("/a", { fs, recovery: "strict" });
  } catch (e) {
    await Promise.allSettled(nested);
    assert.fail(`strict open of an undamaged log failed: ${e instanceof WalCorruptionError ? e.message : e}`);
  }
  await Promise.all(nested);
  assert.ok(nested.length > 0, "the hook never ran");
  assert.equal(wal.recovery.clean, true, JSON.stringify(wal.recovery.actions));
  const got = await wal.replay();
  await wal.close();
  assert.deepEqual(got.map((r) => r.value), values);
});

test("repair open of a clean log loses no record when a read of it runs another log's open", async () => {
  const inner = new CrashFileSystem();
  const values = await writeLog(inner, "/a", 3000, "a");
  await writeLog(inner, "/b", 3000, "b");
  const nested: Promise<unknown>[] = [];
  const fs = hookedFs(inner, "/a", () => {
    nested.push(WriteAheadLog.openReadOnly("/b", { fs: inner }).then((r) => r.close()));
  });
  const wal = await WriteAheadLog.open("/a", { fs });
  await Promise.all(nested);
  const report = JSON.stringify(wal.recovery.actions);
  await wal.close();
  // Reopened without the hook: whatever the first open cut is gone for good.
  const again = await WriteAheadLog.open("/a", { fs: inner });
  const got = await again.replay();
  await again.close();
  assert.equal(got.length, values.length, `records lost; the hooked open reported ${report}`);
  assert.deepEqual(got.map((r) => r.value), values);
});

// Three single-bit flips, each in the value of a different record. Record by record, each of the three records
// fails its own checksum (a one-bit error always does). Chained over the run, the three errors are one 3-bit
// error of a ~6.5 Mbit message, and CRC-32 detects every 3-bit error only up to 91,607 bits (Koopman): some
// patterns cancel. This one was found by searching x^a + x^b + x^c = 0 mod P over the run's bit distances; it
// depends only on where the records lie, so the log below must have exactly this layout.
/** The 400-record log whose three flipped bits (see above) cancel in the chained checksum. */
async function threeFlipLog(): Promise<{ fs: CrashFileSystem; values: string[] }> {
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open("/a", { fs, syncMode: "none" });
  const values = Array.from({ length: 400 }, () => "v".repeat(2000));
  await Promise.all(values.map((v, i) => wal.append("PUT", `key-${i}`, v)));
  await wal.close();
  const path = `/a/${fs.list("/a").filter((n) => n.endsWith(".wal"))[0]}`;
  const bytes = fs.readFile(path).slice();
  assert.equal(bytes.length, 816722, "the log's layout changed: the flips below no longer cancel");
  // [byte offset, bit]: in the values of records 53, 311 and 277 (seqs 54, 312, 278).
  for (const [at, bit] of [[109971, 7], [636204, 0], [566282, 2]]) bytes[at] ^= 1 << bit;
  fs.overwrite(path, bytes);
  return { fs, values };
}

test("three bit flips in three different records: strict open sees them (each record fails its own checksum)", async () => {
  const { fs } = await threeFlipLog();
  let opened: WriteAheadLog;
  try {
    opened = await WriteAheadLog.open("/a", { fs, recovery: "strict" });
  } catch (e) {
    assert.ok(e instanceof WalCorruptionError, String(e));
    return;
  }
  const report = JSON.stringify(opened.recovery);
  const replay = await opened.replay().then((r) => `${r.length} records`, (e) => String(e));
  await opened.close();
  // Without a later record proving the place durable, the stop is a torn tail, which strict mode cuts too.
  assert.equal(
    opened.recovery.clean,
    false,
    `strict open found nothing (recovery ${report}); its replay then gave: ${replay}`,
  );
});

test("three bit flips in three different records: repair open leaves a log that replays", async () => {
  const { fs, values } = await threeFlipLog();
  for (let attempt = 1; attempt <= 2; attempt++) {
    const wal = await WriteAheadLog.open("/a", { fs });
    const report = JSON.stringify(wal.recovery.actions);
    try {
      const got = await wal.replay();
      assert.deepEqual(got.map((r) => r.value), values.slice(0, got.length), "replay gave altered values");
    } catch (e) {
      assert.fail(`open #${attempt} (recovery ${report}) left a log whose replay fails: ${e}`);
    } finally {
      await wal.close();
    }
  }
});
