// Adversary round 3: a read-only handle beside a writer's truncateAfter, attacking the tail stamp (TailStamp /
// tailCut / mayHaveGrown) and capView's NO_TAIL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import * as fs from "node:fs";
import * as path from "node:path";
import { encodeTruncateAfterFile } from "../src/format.ts";
import { defaultFileSystem } from "../src/io/default.ts";
import { stepOutcome, withTempDir } from "./helpers.ts";

/** The runtime's file system without `watch`: a read-only follower then looks only on refresh() or its poll. */
async function quietFs() {
  const base = await defaultFileSystem();
  const quiet: Record<string, unknown> = {};
  for (const k of Object.keys(base)) {
    const v = (base as unknown as Record<string, unknown>)[k];
    if (k === "watch") continue;
    quiet[k] = typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(base) : v;
  }
  return quiet as unknown as typeof base;
}

/** Pulls `n` records from a follower. */
async function take(it: AsyncGenerator<WalRecord>, n: number): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

for (const syncMode of ["sync", "none", "batch"] as const) {
  test(`read-only follower ends when a truncateAfter rewrote a yielded record but the last record came back byte-identical (syncMode ${syncMode})`, async () => {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { syncMode });
      for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `old${i}`);
      const reader = await WriteAheadLog.openReadOnly(dir);
      const ac = new AbortController();
      const it = reader.follow({ pollMs: 5, signal: ac.signal });
      try {
        const first = await take(it, 10);
        assert.equal(first[5].value, "old6");
        // The writer's own follower would end: seqs 6..10 it yielded now name other records (6 differs).
        await wal.truncateAfter(5);
        await wal.append("PUT", "k6", "NEW6");
        for (let i = 7; i <= 10; i++) await wal.append("PUT", `k${i}`, `old${i}`);
        await wal.append("PUT", "k11", "v11");
        const outcome = await stepOutcome(it.next());
        assert.equal(outcome, "WalTruncatedError");
      } finally {
        ac.abort();
        await it.return(undefined).catch(() => {});
        await reader.close();
        await wal.close();
      }
    });
  });
}

for (const syncMode of ["sync", "none"] as const) {
  test(`read-only read(seq) after a truncateAfter + rotation re-created a segment under the same name (tail record identical, syncMode ${syncMode})`, async () => {
    await withTempDir(async (dir) => {
      // Small segments: every few records rotate.
      const opts = { maxFileSize: 400, syncMode };
      const wal = await WriteAheadLog.open(dir, opts);
      for (let i = 1; i <= 12; i++) await wal.append("PUT", `k${i}`, `old${String(i).padStart(2, "0")}`);
      const before = fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
      const reader = await WriteAheadLog.openReadOnly(dir);
      try {
        const last = reader.currentSeqNum();
        // Read one record of every segment: indexes and descriptors cached.
        for (let s = 1; s <= last; s++) await reader.read(s);
        // Cut into the first segment: later segments deleted; re-append so that rotation re-creates them under the
        // same names, every record the same but seq 6 (in a re-created segment).
        await wal.truncateAfter(1);
        for (let i = 2; i <= 12; i++) await wal.append("PUT", `k${i}`, i === 6 ? "new06" : `old${String(i).padStart(2, "0")}`);
        const after = fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
        // Appends after a cut start a new segment, so the names need not come back; either way the old handle must
        // read what a fresh one reads.
        assert.ok(after.length > 0 && before.length > 0);
        await reader.refresh();
        const fresh = await WriteAheadLog.openReadOnly(dir);
        try {
          for (let s = 1; s <= last; s++) {
            assert.deepEqual(await reader.read(s), await fresh.read(s), `read(${s}) on the old handle vs a fresh one`);
          }
          assert.deepEqual((await reader.replay()).map((r) => r.value), (await fresh.replay()).map((r) => r.value));
        } finally {
          await fresh.close();
        }
      } finally {
        await reader.close();
        await wal.close();
      }
    });
  });

}
test("read-only handle opened on a pending truncateAfter (capView, no tail stamp) notices a second, lower cut", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `old${i}`);
    await wal.close();
    // A truncateAfter(8) interrupted before it touched the segment: the marker is there.
    fs.writeFileSync(path.join(dir, "TRUNCATE"), encodeTruncateAfterFile(8));
    const reader = await WriteAheadLog.openReadOnly(dir);
    try {
      assert.equal(reader.currentSeqNum(), 8);
      const seen = (await reader.replay()).map((r) => r.value);
      assert.equal(seen[3], "old4");
      wal = await WriteAheadLog.open(dir); // finishes the cut: 1..8
      await wal.truncateAfter(3);
      for (let i = 4; i <= 12; i++) await wal.append("PUT", `k${i}`, `NEW${i}`);
      const n = await reader.refresh();
      const fresh = await WriteAheadLog.openReadOnly(dir);
      try {
        assert.equal(n, fresh.currentSeqNum(), "currentSeqNum after refresh");
        assert.deepEqual((await reader.replay()).map((r) => r.value), (await fresh.replay()).map((r) => r.value));
      } finally {
        await fresh.close();
      }
    } finally {
      await reader.close();
      await wal?.close();
    }
  });
});

test("read-only handle opened on a pending truncateAfter (capView, no tail stamp) notices a second, lower cut (longer re-appends)", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `old${i}`);
    await wal.close();
    // A truncateAfter(8) interrupted before it touched the segment: the marker is there.
    fs.writeFileSync(path.join(dir, "TRUNCATE"), encodeTruncateAfterFile(8));
    const reader = await WriteAheadLog.openReadOnly(dir);
    try {
      assert.equal(reader.currentSeqNum(), 8);
      const seen = (await reader.replay()).map((r) => r.value);
      assert.equal(seen[3], "old4");
      wal = await WriteAheadLog.open(dir); // finishes the cut: 1..8
      await wal.truncateAfter(3);
      for (let i = 4; i <= 12; i++) await wal.append("PUT", `k${i}`, `NEW-and-longer-${i}`);
      const n = await reader.refresh();
      const fresh = await WriteAheadLog.openReadOnly(dir);
      try {
        assert.equal(n, fresh.currentSeqNum(), "currentSeqNum after refresh");
        assert.deepEqual((await reader.replay()).map((r) => r.value), (await fresh.replay()).map((r) => r.value));
      } finally {
        await fresh.close();
      }
    } finally {
      await reader.close();
      await wal?.close();
    }
  });
});

test("read-only follower opened on a pending truncateAfter ends when a second, lower cut rewrites what it yielded", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `old${i}`);
    await wal.close();
    fs.writeFileSync(path.join(dir, "TRUNCATE"), encodeTruncateAfterFile(8));
    const reader = await WriteAheadLog.openReadOnly(dir);
    const ac = new AbortController();
    const it = reader.follow({ pollMs: 5, signal: ac.signal });
    try {
      const got = await take(it, 8);
      assert.equal(got[7].value, "old8");
      wal = await WriteAheadLog.open(dir);
      await wal.truncateAfter(3);
      // Same lengths: record 9 lands exactly where the view ends.
      for (let i = 4; i <= 12; i++) await wal.append("PUT", `k${i}`, `new${i}`);
      const outcome = await stepOutcome(it.next());
      assert.equal(outcome, "WalTruncatedError");
    } finally {
      ac.abort();
      await it.return(undefined).catch(() => {});
      await reader.close();
      await wal?.close();
    }
  });
});

test("read-only follower ends when a truncateAfter into an older segment deleted its newest one and the writer appended past its end", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 12; i++) await wal.append("PUT", `k${i}`, `old${String(i).padStart(2, "0")}`);
    const names = () => fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
    const before = names();
    assert.ok(before.length >= 2, `several segments: ${before}`);
    const reader = await WriteAheadLog.openReadOnly(dir);
    const ac = new AbortController();
    const it = reader.follow({ pollMs: 5, signal: ac.signal });
    try {
      const got = await take(it, 12);
      assert.equal(got.length, 12);
      await wal.truncateAfter(2);
      // Longer records: rotation now happens at other seqs, so the reader's newest segment name is not re-created.
      for (let i = 3; i <= 20; i++) await wal.append("PUT", `k${i}`, `a-much-longer-new-value-${i}`);
      const after = names();
      assert.ok(!after.includes(before[before.length - 1]), `the reader's newest segment ${before[before.length - 1]} is gone: ${after}`);
      const outcome = await stepOutcome(it.next());
      assert.equal(outcome, "WalTruncatedError");
    } finally {
      ac.abort();
      await it.return(undefined).catch(() => {});
      await reader.close();
      await wal.close();
    }
  });
});

test("read-only read(seq) after a truncateAfter deleted its newest segment and the writer appended past its end", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 12; i++) await wal.append("PUT", `k${i}`, `old${String(i).padStart(2, "0")}`);
    const reader = await WriteAheadLog.openReadOnly(dir);
    try {
      for (let s = 1; s <= 12; s++) assert.equal((await reader.read(s))?.value, `old${String(s).padStart(2, "0")}`);
      await wal.truncateAfter(2);
      for (let i = 3; i <= 20; i++) await wal.append("PUT", `k${i}`, `a-much-longer-new-value-${i}`);
      await reader.refresh();
      const fresh = await WriteAheadLog.openReadOnly(dir);
      try {
        const mine: unknown[] = [];
        const theirs: unknown[] = [];
        for (let s = 1; s <= 20; s++) {
          mine.push(await reader.read(s).then((r) => r?.value, (e) => `threw ${(e as Error).name}`));
          theirs.push((await fresh.read(s))?.value);
        }
        assert.deepEqual(mine, theirs);
      } finally {
        await fresh.close();
      }
    } finally {
      await reader.close();
      await wal.close();
    }
  });
});

test("read-only read(seq) after a truncateAfter re-created a middle segment under the same name (newest one gone)", async () => {
  await withTempDir(async (dir) => {
    const opts = { maxFileSize: 400 };
    const wal = await WriteAheadLog.open(dir, opts);
    const pad = (i: number) => String(i).padStart(2, "0");
    for (let i = 1; i <= 24; i++) await wal.append("PUT", `k${pad(i)}`, `old${pad(i)}`);
    const names = () => fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
    const before = names();
    assert.ok(before.length >= 3, `three segments at least: ${before}`);
    const secondFirst = Number(before[1].slice(0, 20));
    const reader = await WriteAheadLog.openReadOnly(dir);
    try {
      // Cache the middle segment's index and descriptor.
      assert.equal((await reader.read(secondFirst + 1))?.value, `old${pad(secondFirst + 1)}`);
      await wal.truncateAfter(2);
      // Same sizes up to the middle segment's last record (rotation re-creates it under the same name), then
      // longer records, so the old newest segment's name is not re-created.
      for (let i = 3; i <= 30; i++) {
        await wal.append("PUT", `k${pad(i)}`, i < secondFirst + 3 ? `NEW${pad(i)}` : `a-longer-value-${pad(i)}`);
      }
      const after = names();
      assert.ok(after.length > 0 && before.length > 0);
      await reader.refresh();
      const fresh = await WriteAheadLog.openReadOnly(dir);
      try {
        const mine: unknown[] = [];
        const theirs: unknown[] = [];
        for (let s = 1; s <= 30; s++) {
          mine.push(await reader.read(s).then((r) => r?.value, (e) => `threw ${(e as Error).name}`));
          theirs.push((await fresh.read(s))?.value);
        }
        assert.deepEqual(mine, theirs);
      } finally {
        await fresh.close();
      }
    } finally {
      await reader.close();
      await wal.close();
    }
  });
});

test("read-only follower ends after a truncateAfter re-created a middle segment under the same name (newest one gone)", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    const pad = (i: number) => String(i).padStart(2, "0");
    for (let i = 1; i <= 24; i++) await wal.append("PUT", `k${pad(i)}`, `old${pad(i)}`);
    const before = fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
    const secondFirst = Number(before[1].slice(0, 20));
    const reader = await WriteAheadLog.openReadOnly(dir);
    const ac = new AbortController();
    const it = reader.follow({ pollMs: 5, signal: ac.signal });
    try {
      assert.equal((await take(it, 24)).length, 24);
      await wal.truncateAfter(2);
      for (let i = 3; i <= 30; i++) {
        await wal.append("PUT", `k${pad(i)}`, i < secondFirst + 3 ? `NEW${pad(i)}` : `a-longer-value-${pad(i)}`);
      }
      const outcome = await stepOutcome(it.next());
      assert.equal(outcome, "WalTruncatedError");
    } finally {
      ac.abort();
      await it.return(undefined).catch(() => {});
      await reader.close();
      await wal.close();
    }
  });
});

test("read-only follower ends after a truncateAfter re-created a middle segment under the same name (newest one gone; no look during the appends)", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    const pad = (i: number) => String(i).padStart(2, "0");
    for (let i = 1; i <= 24; i++) await wal.append("PUT", `k${pad(i)}`, `old${pad(i)}`);
    const before = fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
    const secondFirst = Number(before[1].slice(0, 20));
    // No watch and a long poll: the handle looks only when refresh() is called, after the writer is done.
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: await quietFs() });
    const ac = new AbortController();
    const it = reader.follow({ pollMs: 3_600_000, signal: ac.signal });
    try {
      assert.equal((await take(it, 24)).length, 24);
      await wal.truncateAfter(2);
      for (let i = 3; i <= 30; i++) {
        await wal.append("PUT", `k${pad(i)}`, i < secondFirst + 3 ? `NEW${pad(i)}` : `a-longer-value-${pad(i)}`);
      }
      await reader.refresh();
      const outcome = await stepOutcome(it.next());
      assert.equal(outcome, "WalTruncatedError");
    } finally {
      ac.abort();
      await it.return(undefined).catch(() => {});
      await reader.close();
      await wal.close();
    }
  });
});

test("read-only follower ends when a truncateAfter into an older segment deleted its newest one and the writer appended past its end (no look during the appends)", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 12; i++) await wal.append("PUT", `k${i}`, `old${String(i).padStart(2, "0")}`);
    const names = () => fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
    const before = names();
    assert.ok(before.length >= 2, `several segments: ${before}`);
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: await quietFs() });
    const ac = new AbortController();
    const it = reader.follow({ pollMs: 3_600_000, signal: ac.signal });
    try {
      const got = await take(it, 12);
      assert.equal(got.length, 12);
      await wal.truncateAfter(2);
      // Longer records: rotation now happens at other seqs, so the reader's newest segment name is not re-created.
      for (let i = 3; i <= 20; i++) await wal.append("PUT", `k${i}`, `a-much-longer-new-value-${i}`);
      const after = names();
      assert.ok(!after.includes(before[before.length - 1]), `the reader's newest segment ${before[before.length - 1]} is gone: ${after}`);
      await reader.refresh();
      const outcome = await stepOutcome(it.next());
      assert.equal(outcome, "WalTruncatedError");
    } finally {
      ac.abort();
      await it.return(undefined).catch(() => {});
      await reader.close();
      await wal.close();
    }
  });
});

