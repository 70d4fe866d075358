// Adversarial: a read-only handle (openReadOnly / refresh / read / follow) beside a writer that cuts its tail with
// truncateAfter and then appends records under the removed seqs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteAheadLog } from "../mod.ts";
import * as fs from "node:fs";
import * as path from "node:path";
import { encodeTruncateAfterFile } from "../src/format.ts";
import { stepOutcome, withTempDir } from "./helpers.ts";

test("ReadOnlyLog.refresh after the writer's truncateAfter + longer re-appends sees the new tail", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `old${i}`);
    const reader = await WriteAheadLog.openReadOnly(dir);
    try {
      assert.equal((await reader.read(7))?.value, "old7");
      await wal.truncateAfter(5);
      for (let i = 6; i <= 12; i++) assert.equal(await wal.append("PUT", `k${i}`, `new-and-longer-${i}`), i);
      assert.equal(await reader.refresh(), 12);
      assert.equal((await reader.read(7))?.value, "new-and-longer-7");
      assert.equal((await reader.read(12))?.value, "new-and-longer-12");
      const all = await reader.replay();
      assert.deepEqual(all.map((r) => r.value), [1, 2, 3, 4, 5].map((i) => `old${i}`).concat([6, 7, 8, 9, 10, 11, 12].map((i) => `new-and-longer-${i}`)));
    } finally {
      await reader.close();
      await wal.close();
    }
  });
});

test("ReadOnlyLog.refresh after the writer's truncateAfter + a shorter re-append: read past the new end is undefined, not damage", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `old${i}`);
    const reader = await WriteAheadLog.openReadOnly(dir);
    try {
      await wal.truncateAfter(5);
      // Shorter tail: the writer's log now ends below the reader's view.
      for (let i = 6; i <= 7; i++) await wal.append("PUT", `k${i}`, `nw${i}`);
      await reader.refresh();
      let nine: string;
      try {
        nine = JSON.stringify(await reader.read(9));
      } catch (e) {
        nine = `threw ${e}`;
      }
      assert.equal(nine, undefined);
      assert.equal(reader.currentSeqNum(), 7);
      assert.equal((await reader.read(6))?.value, "nw6");
    } finally {
      await reader.close();
      await wal.close();
    }
  });
});

test("ReadOnlyLog.follow ends with WalTruncatedError when the writer's truncateAfter reuses seqs it yielded", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `old${i}`);
    const reader = await WriteAheadLog.openReadOnly(dir);
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 5 });
    try {
      for (let i = 1; i <= 10; i++) assert.equal((await it.next()).value?.value, `old${i}`);
      await wal.truncateAfter(5);
      // Same sizes: seqs 6..10 now name other records, then the log goes on.
      for (let i = 6; i <= 12; i++) await wal.append("PUT", `k${i}`, `new${i}`.padEnd(`old${i}`.length, "x").slice(0, Math.max(`old${i}`.length, `new${i}`.length)));
      await reader.refresh();
      const outcome = await stepOutcome(it.next());
      assert.equal(outcome, "WalTruncatedError");
    } finally {
      controller.abort();
      await it.return(undefined).catch(() => {});
      await reader.close();
      await wal.close();
    }
  });
});

test("ReadOnlyLog.read never returns a record of a removed segment through its cached descriptor (segment re-created under the same name)", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 2048 });
    const value = (tag: string, i: number) => `${tag}${String(i).padStart(3, "0")}`.padEnd(100, ".");
    for (let i = 1; i <= 60; i++) await wal.append("PUT", `k${i}`, value("old", i));
    const segs = segmentFilesOf(dir);
    assert.ok(segs.length >= 3, `want several segments, got ${segs.length}`);
    const lastFirst = Number(segs.at(-1)!.slice(0, 20));
    const reader = await WriteAheadLog.openReadOnly(dir);
    try {
      const probe = lastFirst + 1;
      assert.equal((await reader.read(probe))?.value, value("old", probe));
      // Cut into an older segment: the newest file is removed; the same-size re-appends rotate at the same seq,
      // so a new file of the same name appears.
      await wal.truncateAfter(lastFirst - 5);
      for (let i = lastFirst - 4; i <= 60; i++) await wal.append("PUT", `k${i}`, value("new", i));
      // Appends after a cut start a new segment, so the old names need not come back; the reader must read the
      // new record either way, never the removed one through a cached descriptor.
      assert.ok(segmentFilesOf(dir).length >= 2);
      await reader.refresh();
      assert.equal((await reader.read(probe))?.value, value("new", probe));
    } finally {
      await reader.close();
      await wal.close();
    }
  });
});

function segmentFilesOf(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
}

test("openReadOnly of a log whose truncateAfter is pending (TRNA marker durable) does not read the records it removes", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `v${i}`);
    await wal.close();
    // The state a crash leaves right after truncateAfter(5) made its marker durable (its commit point).
    fs.writeFileSync(path.join(dir, "TRUNCATE"), encodeTruncateAfterFile(5));
    const reader = await WriteAheadLog.openReadOnly(dir);
    const seen = { last: reader.currentSeqNum(), eight: (await reader.read(8))?.value, replay: (await reader.replay()).length };
    await reader.close();
    const again = await WriteAheadLog.open(dir);
    const truth = again.currentSeqNum();
    await again.close();
    assert.equal(truth, 5, "the writer's open finishes the cut");
    assert.deepEqual(seen, { last: 5, eight: undefined, replay: 5 });
  });
});
