// The write path with fdatasync off the event loop (io: "async"): appends from separate callbacks share an
// fdatasync, at most one group is in flight, resolutions come in seq order, failures fail the log, close waits
// for the group in flight, and reads never see a group whose fdatasync has not completed. Counted in fsyncs and
// orderings, never in time: the file system below holds each fdatasync for two turns of the event loop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { WalFailedError, WriteAheadLog } from "../mod.ts";
import type { WalFile, WalFileSystem } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import { withTempDir } from "./helpers.ts";

const DIR = "/wal";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The crash-simulating disk with an asynchronous fdatasync that stays in flight for two turns of the event loop
 * (as a thread pool's would), then syncs. `inFlight` counts the ones running now; `maxInFlight` the most at once.
 */
class AsyncSyncFs {
  readonly inner = new CrashFileSystem();
  inFlight = 0;
  maxInFlight = 0;
  readonly fs: WalFileSystem;
  constructor() {
    const inner = this.inner;
    const wrapFile = (file: WalFile): WalFile => ({
      append: (d) => file.append(d),
      writeAt: (d, p) => file.writeAt(d, p),
      read: (into, p) => file.read(into, p),
      datasync: () => file.datasync(),
      datasyncAsync: async () => {
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        try {
          await turn();
          await turn();
          file.datasync();
        } finally {
          this.inFlight--;
        }
      },
      size: () => file.size(),
      truncate: (n) => file.truncate(n),
      close: () => file.close(),
    });
    this.fs = {
      join: (d, n) => inner.join(d, n),
      realPath: (p) => inner.realPath(p),
      mkdirp: (d) => inner.mkdirp(d),
      list: (d) => inner.list(d),
      exists: (p) => inner.exists(p),
      openRead: (p) => inner.openRead(p),
      openWrite: (p, o) => wrapFile(inner.openWrite(p, o)),
      readFile: (p) => inner.readFile(p),
      rename: (a, b) => inner.rename(a, b),
      remove: (p) => inner.remove(p),
      syncDir: (d) => inner.syncDir(d),
      pid: () => inner.pid(),
      processAlive: (pid) => inner.processAlive(pid),
    };
  }
  segmentSyncs(): number {
    return this.inner.history.filter((e) => e.op === "datasync" && e.path.endsWith(".wal")).length;
  }
}

/** `producers` callbacks, each appending `each` times with a turn of the event loop before every append. */
async function serverShaped(wal: WriteAheadLog, producers: number, each: number, order?: number[]): Promise<void> {
  await Promise.all(Array.from({ length: producers }, async (_, p) => {
    for (let i = 0; i < each; i++) {
      await turn();
      const seq = await wal.append("PUT", `p${p}:${i}`, "v".repeat(100));
      order?.push(seq);
    }
  }));
}

test("appends from separate callbacks (a turn of the event loop apart) share fdatasyncs", async () => {
  const d = new AsyncSyncFs();
  const wal = await WriteAheadLog.open(DIR, { fs: d.fs });
  const order: number[] = [];
  await serverShaped(wal, 16, 20, order);
  const syncs = wal.stats().fsyncs;
  console.log(`320 appends from 16 producers: ${syncs} fsyncs (${(320 / syncs).toFixed(1)} appends per fsync)`);
  assert.ok(syncs <= 320 / 4, `${syncs} fsyncs for 320 appends: they were not grouped`);
  assert.equal(d.maxInFlight, 1, "more than one fdatasync in flight");
  assert.deepEqual(order, Array.from({ length: 320 }, (_, i) => i + 1), "appends resolved out of seq order");
  await wal.close();
  const reopened = await WriteAheadLog.open(DIR, { fs: d.inner.clone() });
  assert.equal((await reopened.replay()).length, 320);
  await reopened.close();
});

test("every acknowledged append was covered by a completed fdatasync (crash right after each resolution)", async () => {
  const d = new AsyncSyncFs();
  const wal = await WriteAheadLog.open(DIR, { fs: d.fs });
  const checks: Promise<void>[] = [];
  await Promise.all(Array.from({ length: 8 }, async (_, p) => {
    for (let i = 0; i < 6; i++) {
      await turn();
      const seq = await wal.append("PUT", `p${p}:${i}`, "x");
      // A power cut now, losing everything unsynced, must keep this record.
      const state = d.inner.crashState(d.inner.history.length);
      const disk = state.materialize({});
      checks.push((async () => {
        const w = await WriteAheadLog.open(DIR, { fs: disk });
        const seqs = (await w.replay()).map((r) => r.seqNum);
        assert.ok(seqs.includes(seq), `acknowledged seq ${seq} lost by a crash`);
        await w.close();
      })());
    }
  }));
  await Promise.all(checks);
  await wal.close();
});

test("reads do not see a group whose fdatasync is in flight", async () => {
  const d = new AsyncSyncFs();
  const wal = await WriteAheadLog.open(DIR, { fs: d.fs, io: "async" });
  await wal.append("PUT", "a", "1");
  const pending = wal.append("PUT", "b", "2");
  await turn(); // written, fdatasync in flight
  assert.equal(d.inFlight, 1);
  assert.deepEqual((await wal.replay()).map((r) => r.key), ["a"]);
  await pending;
  assert.deepEqual((await wal.replay()).map((r) => r.key), ["a", "b"]);
  await wal.close();
});

test("a failed asynchronous fdatasync rejects its group with the OS error, the forming group with WalFailedError", async () => {
  const d = new AsyncSyncFs();
  const wal = await WriteAheadLog.open(DIR, { fs: d.fs, io: "async" });
  await wal.append("PUT", "ok", "1");
  d.inner.inject({ op: "datasync", nth: 1, code: "EIO", pathIncludes: ".wal" });
  const inFlight = wal.append("PUT", "unsure", "2");
  await turn(); // its fdatasync is in flight: the next append forms the next group
  const forming = wal.append("PUT", "never-written", "3");
  const writesBefore = d.inner.history.filter((e) => e.op === "write" || e.op === "append").length;
  await assert.rejects(inFlight, (e: unknown) => (e as { code?: string }).code === "EIO");
  await assert.rejects(forming, (e: unknown) => e instanceof WalFailedError && (e.cause as { code?: string }).code === "EIO");
  const writesAfter = d.inner.history.filter((e) => e.op === "write" || e.op === "append").length;
  assert.equal(writesAfter, writesBefore, "the group behind the failed fdatasync was written");
  await assert.rejects(wal.append("PUT", "late", "x"), WalFailedError);
  await assert.rejects(wal.sync(), WalFailedError);
  await wal.close(); // every acknowledged record was synced: close resolves
});

test("batch mode with asynchronous fdatasync: a failed background sync fails the log and close() rejects", async () => {
  const d = new AsyncSyncFs();
  const wal = await WriteAheadLog.open(DIR, { fs: d.fs, io: "async", syncMode: "batch", batchSyncIntervalMs: 1 });
  d.inner.inject({ op: "datasync", nth: 1, code: "EIO", pathIncludes: ".wal" });
  for (let i = 0; i < 20; i++) await wal.append("PUT", `k${i}`, "acknowledged");
  while (!d.inner.history.some((e) => e.op === "failed")) await new Promise((r) => setTimeout(r, 2));
  await turn();
  await assert.rejects(wal.append("PUT", "late", "x"), WalFailedError);
  await assert.rejects(wal.close(), (e: unknown) => e instanceof WalFailedError && (e.cause as { code?: string }).code === "EIO");
});

test("close() waits for the group in flight and syncs what is queued behind it", async () => {
  const d = new AsyncSyncFs();
  const wal = await WriteAheadLog.open(DIR, { fs: d.fs, io: "async" });
  const first = wal.append("PUT", "a", "1");
  await turn(); // a's fdatasync is in flight
  const second = wal.append("PUT", "b", "2");
  const settled: string[] = [];
  first.then(() => settled.push("a"));
  second.then(() => settled.push("b"));
  await wal.close().then(() => settled.push("close"));
  assert.deepEqual(settled, ["a", "b", "close"]);
  assert.equal(d.inFlight, 0);
  const state = d.inner.crashState(d.inner.history.length);
  const w = await WriteAheadLog.open(DIR, { fs: state.materialize({}) });
  assert.deepEqual((await w.replay()).map((r) => r.key), ["a", "b"]);
  await w.close();
});

test("truncate waits for the group in flight", async () => {
  const d = new AsyncSyncFs();
  const wal = await WriteAheadLog.open(DIR, { fs: d.fs, io: "async" });
  for (let i = 1; i <= 5; i++) await wal.append("PUT", `k${i}`, "v");
  const pending = wal.append("PUT", "k6", "v");
  await turn();
  await wal.truncate(3);
  assert.equal(await pending, 6);
  assert.deepEqual((await wal.replay()).map((r) => r.key), ["k4", "k5", "k6"]);
  await wal.close();
});

test("io \"auto\": a lone append is synced inline while fdatasync is fast, a group or a slow disk off the thread", async () => {
  const d = new AsyncSyncFs();
  let inline = 0;
  let slowMs = 0;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const fs: WalFileSystem = {
    ...d.fs,
    openWrite: (p, o) => {
      const file = d.fs.openWrite(p, o);
      return {
        ...file,
        datasync: () => {
          inline++;
          file.datasync();
          if (slowMs > 0) Atomics.wait(cell, 0, 0, slowMs); // a disk whose fdatasync takes slowMs or more
        },
      };
    },
  };
  const wal = await WriteAheadLog.open(DIR, { fs });
  inline = 0; // creating the first segment synced it
  await wal.append("PUT", "lone", "1");
  assert.equal(inline, 1, "a lone append was not synced inline");
  assert.equal(d.maxInFlight, 0);
  await Promise.all([wal.append("PUT", "a", "1"), wal.append("PUT", "b", "2")]);
  assert.equal(inline, 1, "a group of two was synced inline");
  assert.equal(d.maxInFlight, 1);
  slowMs = 5;
  await wal.append("PUT", "lone", "2"); // inline (the disk was fast so far), and found slow
  assert.equal(inline, 2);
  await wal.append("PUT", "lone", "3");
  assert.equal(inline, 2, "after a slow fdatasync a lone append was still synced inline");
  await wal.close();
});

test("on a real disk, a tight awaited append loop lets the event loop turn (the fdatasync completes off-thread)", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    let turned = false;
    setImmediate(() => (turned = true));
    await wal.append("PUT", "k1", "v");
    await wal.append("PUT", "k2", "v");
    assert.ok(turned, "a setImmediate callback did not run during two awaited appends");
    await wal.close();
  });
});

test("io: \"inline\" still works and rejects a bad value with a typed error", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { io: "inline" });
    assert.equal(await wal.append("PUT", "k", "v"), 1);
    await wal.close();
    await assert.rejects(
      WriteAheadLog.open(dir, { io: "threads" as "inline" }),
      (e: unknown) => e instanceof Error && e.message.includes("options.io"),
    );
  });
});
