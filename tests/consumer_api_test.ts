// What consumers of a log read off it: firstSeqNum(), an AbortSignal on streams, stats() with histograms, and the
// onSlowSync hook.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as nodeFs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { WalInvalidArgumentError, WriteAheadLog } from "../mod.ts";
import type { SlowSyncInfo, WalFile, WalFileSystem, WalRecord } from "../mod.ts";
import { SEGMENT_HEADER_SIZE } from "../src/format.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { Histogram } from "../src/stats.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

// --- firstSeqNum ---

test("firstSeqNum: 1 on a fresh log, n + 1 after truncate(n), currentSeqNum() + 1 once truncated past the end", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 256 });
    assert.equal(wal.firstSeqNum(), 1);
    assert.equal(wal.currentSeqNum(), 0);
    for (let i = 1; i <= 20; i++) await wal.append("PUT", `k${i}`, "v".repeat(40));
    assert.ok(segmentFiles(dir).length > 2, "several segments");
    assert.equal(wal.firstSeqNum(), 1);
    await wal.truncate(7);
    assert.equal(wal.firstSeqNum(), 8);
    assert.equal((await wal.replay())[0].seqNum, 8);
    await wal.truncate(3); // below the first: nothing changes
    assert.equal(wal.firstSeqNum(), 8);
    await wal.truncate(100);
    assert.equal(wal.currentSeqNum(), 20);
    assert.equal(wal.firstSeqNum(), 21);
    assert.deepEqual(await wal.replay(), []);
    await wal.append("PUT", "after", "x");
    assert.equal(wal.firstSeqNum(), 21);
    assert.equal(wal.currentSeqNum(), 21);
    await wal.close();
    const again = await WriteAheadLog.open(dir, { maxFileSize: 256 });
    assert.equal(again.firstSeqNum(), 21);
    await again.close();
  });
});

test("firstSeqNum inside a batch: the remaining members count, iterate from firstSeqNum() - 1 starts there", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "a", "1");
    await wal.appendBatch([["PUT", "b", "2"], ["PUT", "c", "3"], ["PUT", "d", "4"]]); // 2, 3, 4, COMMIT 5
    await wal.truncate(2);
    assert.equal(wal.firstSeqNum(), 3);
    const all: WalRecord[] = [];
    for await (const r of wal.iterate({ afterSeq: wal.firstSeqNum() - 1 })) all.push(r);
    assert.deepEqual(all.map((r) => r.seqNum), [3, 4, 5]);
    await wal.close();
  });
});

test("ReadOnlyLog.firstSeqNum agrees with the writer's", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 256 });
    const fresh = await WriteAheadLog.openReadOnly(dir);
    assert.equal(fresh.firstSeqNum(), 1);
    assert.equal(fresh.currentSeqNum(), 0);
    await fresh.close();
    for (let i = 1; i <= 12; i++) await wal.append("PUT", `k${i}`, "v".repeat(40));
    await wal.truncate(5);
    const reader = await WriteAheadLog.openReadOnly(dir);
    assert.equal(reader.firstSeqNum(), 6);
    assert.equal(reader.firstSeqNum(), wal.firstSeqNum());
    await wal.truncate(50);
    await reader.refresh();
    assert.equal(reader.currentSeqNum(), 12);
    assert.equal(reader.firstSeqNum(), 13);
    assert.equal(wal.firstSeqNum(), 13);
    await reader.close();
    await wal.close();
  });
});

// --- AbortSignal on streams ---

/** The node:fs file system, counting the files the log opens for reading and has not closed. */
function readTrackingFs(): { fs: WalFileSystem; opened: () => number; open: () => number } {
  let opened = 0;
  let open = 0;
  const fs: WalFileSystem = {
    ...nodeFileSystem,
    openRead: (p) => {
      const file: WalFile = nodeFileSystem.openRead(p);
      opened++;
      open++;
      let closed = false;
      return {
        append: (d) => file.append(d),
        writeAt: (d, at) => file.writeAt(d, at),
        read: (into, position) => file.read(into, position),
        datasync: () => file.datasync(),
        size: () => file.size(),
        truncate: (l) => file.truncate(l),
        close: () => {
          if (!closed) open--;
          closed = true;
          file.close();
        },
      };
    },
  };
  return { fs, opened: () => opened, open: () => open };
}

async function logOf(dir: string, fs: WalFileSystem, count: number): Promise<WriteAheadLog> {
  const wal = await WriteAheadLog.open(dir, { fs, syncMode: "none", maxFileSize: 4096 });
  for (let i = 1; i <= count; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
  return wal;
}

test("abort() ends a replayStream: the descriptor is released at once, the next step rejects with an AbortError", async () => {
  await withTempDir(async (dir) => {
    const tracking = readTrackingFs();
    const wal = await logOf(dir, tracking.fs, 300);
    const controller = new AbortController();
    const stream = wal.replayStream({ signal: controller.signal });
    assert.equal((await stream.next()).value?.seqNum, 1);
    assert.equal(tracking.open(), 1, "the stream holds a segment open");
    controller.abort();
    assert.equal(tracking.open(), 0, "released by abort() itself, before any further step");
    await assert.rejects(stream.next(), (e: unknown) => {
      assert.ok(e instanceof DOMException, `a DOMException, got ${e}`);
      assert.equal(e.name, "AbortError");
      return true;
    });
    assert.equal((await stream.next()).done, true);
    // The log goes on as before.
    assert.equal((await wal.replay()).length, 300);
    await wal.close();
  });
});

test("abort(reason) ends an iterate with that reason, also between chunks and inside a for await", async () => {
  await withTempDir(async (dir) => {
    const tracking = readTrackingFs();
    const wal = await logOf(dir, tracking.fs, 300);
    const controller = new AbortController();
    const reason = new Error("client went away");
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const r of wal.iterate({ afterSeq: 10, signal: controller.signal })) {
          seen.push(r.seqNum);
          if (r.seqNum === 200) controller.abort(reason);
        }
      })(),
      (e: unknown) => e === reason,
    );
    assert.equal(seen.length, 190);
    assert.equal(seen.at(-1), 200);
    assert.equal(tracking.open(), 0);
    await wal.close();
  });
});

test("a signal aborted before the first step rejects it at once and opens nothing; replay rejects too", async () => {
  await withTempDir(async (dir) => {
    const tracking = readTrackingFs();
    const wal = await logOf(dir, tracking.fs, 10);
    const before = tracking.opened();
    const reason = new Error("already");
    const signal = AbortSignal.abort(reason);
    await assert.rejects(wal.replayStream({ signal }).next(), (e: unknown) => e === reason);
    await assert.rejects(wal.iterate({ afterSeq: 2, signal }).next(), (e: unknown) => e === reason);
    await assert.rejects(wal.replay({ signal }), (e: unknown) => e === reason);
    await assert.rejects(wal.replayStream({ signal: AbortSignal.abort() }).next(), { name: "AbortError" });
    assert.equal(tracking.opened(), before, "no segment was opened");
    // A signal aborted after the stream was made but before its first step.
    const controller = new AbortController();
    const stream = wal.replayStream({ signal: controller.signal });
    controller.abort();
    await assert.rejects(stream.next(), { name: "AbortError" });
    assert.equal(tracking.opened(), before);
    await wal.close();
  });
});

test("a signal that never aborts changes nothing; close() still ends the stream", async () => {
  await withTempDir(async (dir) => {
    const tracking = readTrackingFs();
    const wal = await logOf(dir, tracking.fs, 50);
    const controller = new AbortController();
    let n = 0;
    for await (const r of wal.replayStream({ signal: controller.signal })) assert.equal(r.seqNum, ++n);
    assert.equal(n, 50);
    assert.equal(tracking.open(), 0);
    controller.abort(); // after the end: nothing to do
    const stream = wal.iterate({ signal: new AbortController().signal });
    await stream.next();
    await wal.close();
    await assert.rejects(stream.next(), { name: "WalClosedError" });
  });
});

test("options.signal that is not an AbortSignal: WalInvalidArgumentError naming it", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.append("PUT", "k", "v");
    const bad = [{}, "abort", 1, null, new AbortController()];
    for (const signal of bad) {
      const options = { signal } as unknown as { signal: AbortSignal };
      const check = (e: unknown) => {
        assert.ok(e instanceof WalInvalidArgumentError, `${e}`);
        assert.match(e.message, /options\.signal/);
        return true;
      };
      await assert.rejects(wal.replayStream(options).next(), check);
      await assert.rejects(wal.iterate(options).next(), check);
      await assert.rejects(wal.replay(options), check);
    }
    await wal.close();
  });
});

// --- stats() ---

test("stats() is a method: counters, records, bytes, histograms, segments and the recovery report", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    const empty = wal.stats();
    assert.equal(empty.records, 0);
    assert.equal(empty.bytes, 0);
    assert.deepEqual(empty.groupRecords, { count: 0, p50: 0, p99: 0, max: 0 });
    assert.equal(empty.segments, 1);
    assert.equal(empty.segmentBytes, SEGMENT_HEADER_SIZE);
    assert.equal(empty.recovery, wal.recovery);

    await wal.append("PUT", "a", "1");
    await Promise.all(Array.from({ length: 64 }, (_, i) => wal.append("PUT", `k${i}`, "v")));
    await wal.appendBatch([["PUT", "x", "1"], ["DELETE", "y"]]); // 2 records + COMMIT
    await wal.checkpoint();
    const s = wal.stats();
    assert.equal(s.records, 1 + 64 + 3 + 1);
    assert.ok(s.bytes > 0);
    assert.equal(s.segmentBytes, SEGMENT_HEADER_SIZE + s.bytes, "one segment: its header and every record");
    assert.ok(s.fsyncs >= 4 && s.writes >= 4 && s.groups >= 4, JSON.stringify(s));
    assert.equal(s.syncLatencyMicros.count, s.fsyncs, "every fdatasync timed");
    assert.ok(s.syncLatencyMicros.p50 <= s.syncLatencyMicros.p99 && s.syncLatencyMicros.p99 <= s.syncLatencyMicros.max);
    assert.ok(s.groupRecords.count >= 4 && s.groupRecords.count <= s.groups);
    assert.ok(s.groupRecords.max >= 2 && s.groupRecords.max <= 64, `the 64 concurrent appends shared groups: ${s.groupRecords.max}`);
    assert.ok(s.groupRecords.p50 >= 1 && s.groupRecords.p99 <= s.groupRecords.max);
    // A snapshot: changing it changes nothing.
    s.records = -1;
    s.syncLatencyMicros.count = -1;
    assert.equal(wal.stats().records, 69);
    assert.ok(wal.stats().syncLatencyMicros.count > 0);
    await wal.close();
  });
});

test("stats(): segments and their bytes follow rotation and truncate", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 512, syncMode: "batch" });
    for (let i = 1; i <= 40; i++) await wal.append("PUT", `k${i}`, "v".repeat(50));
    await wal.sync();
    const onDisk = () => segmentFiles(dir).reduce((sum, name) => sum + nodeFs.statSync(name).size, 0);
    let s = wal.stats();
    assert.equal(s.segments, segmentFiles(dir).length);
    assert.ok(s.segments > 3);
    assert.equal(s.segmentBytes, onDisk());
    await wal.truncate(25);
    s = wal.stats();
    assert.equal(s.segments, segmentFiles(dir).length);
    assert.equal(s.segmentBytes, onDisk());
    assert.equal(s.records, 40, "records written since open: truncate does not change it");
    await wal.close();
    s = wal.stats();
    assert.equal(s.segmentBytes, onDisk());
  });
});

test("stats().recovery is the report of the open", async () => {
  await withTempDir(async (dir) => {
    const first = await WriteAheadLog.open(dir);
    await first.append("PUT", "k", "v");
    await first.close();
    const segment = segmentFiles(dir)[0];
    nodeFs.appendFileSync(segment, new Uint8Array([1, 2, 3])); // a torn tail
    const wal = await WriteAheadLog.open(dir);
    const s = wal.stats();
    assert.equal(s.recovery, wal.recovery);
    assert.equal(s.recovery.clean, false);
    assert.equal(s.records, 0);
    await wal.close();
  });
});

test("Histogram: percentiles within 12.5 % (never above max), constant buckets, zeros when empty", () => {
  const h = new Histogram();
  assert.deepEqual(h.summary(), { count: 0, p50: 0, p99: 0, max: 0 });
  for (let v = 1; v <= 1000; v++) h.record(v);
  const s = h.summary();
  assert.equal(s.count, 1000);
  assert.equal(s.max, 1000);
  assert.ok(s.p50 >= 500 && s.p50 <= 500 * 1.125, `p50 ${s.p50}`);
  assert.ok(s.p99 >= 990 && s.p99 <= 1000, `p99 ${s.p99}`);
  const small = new Histogram();
  for (const v of [0, 1, 1, 2, 7]) small.record(v);
  assert.deepEqual(small.summary(), { count: 5, p50: 1, p99: 7, max: 7 });
  const wide = new Histogram();
  for (const v of [2 ** 50 - 1, 2 ** 50, 2 ** 53, -5, 0.4, 3.6, Number.MAX_SAFE_INTEGER]) wide.record(v);
  const w = wide.summary();
  assert.equal(w.count, 7);
  assert.equal(w.max, 2 ** 53);
  assert.ok(w.p50 <= w.p99 && w.p99 <= w.max);
  const one = new Histogram();
  one.record(123_456);
  assert.deepEqual(one.summary(), { count: 1, p50: 123_456, p99: 123_456, max: 123_456 });
});

// --- onSlowSync ---

/** An in-memory file system whose every fdatasync of a segment takes `ms` (inline: a busy wait; async: a timer). */
function slowSyncFs(ms: number): WalFileSystem {
  const crash = new CrashFileSystem();
  const busyWait = () => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* the disk is slow */ }
  };
  return new Proxy(crash, {
    get(target, property) {
      if (property === "openWrite") {
        return (path: string, options: Parameters<WalFileSystem["openWrite"]>[1]): WalFile => {
          const file = target.openWrite(path, options);
          return {
            ...file,
            datasync: () => {
              busyWait();
              file.datasync();
            },
            datasyncAsync: async () => {
              await sleep(ms);
              file.datasync();
            },
          };
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

for (const io of ["inline", "async", "auto"] as const) {
  test(`onSlowSync (io "${io}") is told of fdatasyncs slower than slowSyncMs, with the seq and records they covered`, async () => {
    const calls: { ms: number; info: SlowSyncInfo }[] = [];
    const wal = await WriteAheadLog.open("/log", {
      fs: slowSyncFs(20),
      io,
      slowSyncMs: 5,
      onSlowSync: (ms, info) => calls.push({ ms, info }),
    });
    await wal.append("PUT", "a", "1");
    await Promise.all([wal.append("PUT", "b", "2"), wal.append("PUT", "c", "3")]);
    await sleep(0); // the hook runs in a microtask after the sync
    assert.ok(calls.length >= 2, `called ${calls.length} times`);
    for (const { ms, info } of calls) {
      assert.ok(ms > 5, `${ms} ms`);
      assert.ok(info.seq >= 1 && info.seq <= 3, `seq ${info.seq}`);
      assert.ok(info.records >= 1 && info.records <= 3, `records ${info.records}`);
    }
    assert.ok(calls.some((c) => c.info.seq === 3));
    const s = wal.stats();
    assert.ok(s.syncLatencyMicros.max >= 5000, `max ${s.syncLatencyMicros.max} µs`);
    await wal.close();
  });
}

test("onSlowSync that throws or rejects never fails a write", async () => {
  let calls = 0;
  const wal = await WriteAheadLog.open("/log", {
    fs: slowSyncFs(20),
    io: "inline",
    slowSyncMs: 5,
    onSlowSync: () => {
      calls++;
      if (calls % 2 === 1) throw new Error("monitoring is down");
      return Promise.reject(new Error("monitoring is down, asynchronously")) as unknown as void;
    },
  });
  for (let i = 1; i <= 4; i++) assert.equal(await wal.append("PUT", `k${i}`, "v"), i);
  await wal.appendBatch([["PUT", "x", "1"]]);
  await wal.sync();
  await sleep(10);
  assert.ok(calls >= 4, `called ${calls} times`);
  assert.equal((await wal.replay()).length, 5);
  await wal.close();
});

test("onSlowSync and slowSyncMs are checked: WalInvalidArgumentError naming the option", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ onSlowSync: 5 }, /options\.onSlowSync/],
    [{ onSlowSync: "warn" }, /options\.onSlowSync/],
    [{ slowSyncMs: -1 }, /options\.slowSyncMs/],
    [{ slowSyncMs: Number.NaN }, /options\.slowSyncMs/],
    [{ slowSyncMs: "1000" }, /options\.slowSyncMs/],
  ];
  for (const [options, name] of cases) {
    await assert.rejects(WriteAheadLog.open("/log", { fs: new CrashFileSystem(), ...options }), (e: unknown) => {
      assert.ok(e instanceof WalInvalidArgumentError, `${e}`);
      assert.match(e.message, name);
      return true;
    });
  }
  const wal = await WriteAheadLog.open("/log", { fs: new CrashFileSystem(), slowSyncMs: 0, onSlowSync: () => {} });
  await wal.close();
});
