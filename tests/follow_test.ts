/**
 * `follow()`: live followers of a log, in this process (`WriteAheadLog.follow`, woken by the writer) and in
 * another one (`ReadOnlyLog.follow`, which polls). Every record once, in order, a batch whole and only after its
 * COMMIT, never before the durability the sync mode promises; ends on abort, return(), close() and a truncate
 * that takes records it has not yielded; many followers cost the writer one wake-up per flush.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { WalClosedError, WalInvalidArgumentError, WalTruncatedError, WriteAheadLog } from "../mod.ts";
import type { SyncMode, WalFile, WalFileSystem, WalRecord } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { FollowHub, Followers, followLog } from "../src/follow.ts";
import type { FollowSource } from "../src/follow.ts";
import { listSegments } from "../src/segment.ts";
import * as nodeFs from "node:fs";
import { payloadFor, spawnChild } from "./fixtures/child_writer.ts";
import type { Runtime } from "./fixtures/child_writer.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

/** Lets the event loop turn `n` times (timers aside): what a follower would need to see anything readable. */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Takes `count` records from a follower (the generator goes on). */
async function take(follower: AsyncGenerator<WalRecord>, count: number): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  while (out.length < count) {
    const r = await follower.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

/** Whether a promise has settled after the event loop turned (without waiting for it). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await turns();
  return done;
}

/**
 * node:fs with hooks: counts bytes read and files open for reading, and (when `hold` is set) keeps every
 * off-thread fdatasync pending until `release()`: the disk has the data, the writer does not know yet.
 */
function hookedFs(): {
  fs: WalFileSystem;
  read: () => number;
  openReads: () => number;
  hold: (on: boolean) => void;
  release: () => number;
  held: () => number;
} {
  let read = 0;
  let openReads = 0;
  let holding = false;
  let held: (() => void)[] = [];
  const wrap = (file: WalFile, reading: boolean): WalFile => {
    if (reading) openReads++;
    let closed = false;
    return {
      append: (d) => file.append(d),
      writeAt: (d, p) => file.writeAt(d, p),
      read: (into, position) => {
        const n = file.read(into, position);
        read += n;
        return n;
      },
      datasync: () => file.datasync(),
      datasyncAsync: () => {
        file.datasync();
        if (!holding) return Promise.resolve();
        return new Promise<void>((resolve) => held.push(resolve));
      },
      size: () => file.size(),
      truncate: (l) => file.truncate(l),
      close: () => {
        if (reading && !closed) openReads--;
        closed = true;
        file.close();
      },
    };
  };
  const fs: WalFileSystem = {
    ...nodeFileSystem,
    openRead: (p) => wrap(nodeFileSystem.openRead(p), true),
    openWrite: (p, o) => wrap(nodeFileSystem.openWrite(p, o), false),
  };
  return {
    fs,
    read: () => read,
    openReads: () => openReads,
    hold: (on) => (holding = on),
    release: () => {
      const list = held;
      held = [];
      for (const resolve of list) resolve();
      return list.length;
    },
    held: () => held.length,
  };
}

for (const syncMode of ["sync", "batch", "none"] as SyncMode[]) {
  test(`follow (${syncMode}): the records already there, then each new one, in order, once, batches whole`, async () => {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { syncMode, maxFileSize: 1024 });
      for (let i = 0; i < 20; i++) await wal.append("PUT", `old${i}`, `v${i}`);
      const follower = wal.follow({ afterSeq: 5 });
      const first = await take(follower, 15);
      assert.deepEqual(first.map((r) => r.seqNum), Array.from({ length: 15 }, (_, i) => i + 6));
      // New records while it waits: singles, bursts of one group, batches (members only, never the COMMIT).
      const expected: { seq: number; key: string }[] = [];
      for (let round = 0; round < 40; round++) {
        if (round % 5 === 0) {
          const ops = Array.from({ length: 3 }, (_, i) => ["PUT", `b${round}.${i}`, "x".repeat(100)] as const);
          const commit = await wal.appendBatch(ops);
          ops.forEach((op, i) => expected.push({ seq: commit - 3 + i, key: op[1] }));
        } else if (round % 3 === 0) {
          const seqs = await Promise.all(Array.from({ length: 4 }, (_, i) => wal.append("PUT", `g${round}.${i}`, "y")));
          seqs.forEach((seq, i) => expected.push({ seq, key: `g${round}.${i}` }));
        } else {
          const seq = await wal.append("DELETE", `s${round}`);
          expected.push({ seq, key: `s${round}` });
        }
      }
      const rest = await take(follower, expected.length);
      assert.deepEqual(rest.map((r) => ({ seq: r.seqNum, key: r.key })), expected);
      assert.ok(segmentFiles(dir).length > 1, "the records spanned a rotation");
      await wal.close();
      assert.deepEqual(await follower.next(), { done: true, value: undefined }, "close ends a follower cleanly");
    });
  });
}

test("follow across many rotations (one record per segment): no gap, no duplicate", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none", maxFileSize: 100 });
    const follower = wal.follow();
    const got = (async () => take(follower, 300))();
    for (let i = 0; i < 300; i++) {
      if (i % 2 === 0) await wal.append("PUT", `k${i}`, "v".repeat(30));
      else void wal.append("PUT", `k${i}`, "v".repeat(30));
    }
    const records = await got;
    assert.deepEqual(records.map((r) => r.key), Array.from({ length: 300 }, (_, i) => `k${i}`));
    assert.ok(segmentFiles(dir).length >= 150);
    await follower.return();
    await wal.close();
  });
});

test('follow in "sync" mode: a record is yielded only after its group\'s fdatasync completed, a batch whole', async () => {
  await withTempDir(async (dir) => {
    const hooks = hookedFs();
    const wal = await WriteAheadLog.open(dir, { fs: hooks.fs, syncMode: "sync", io: "async" });
    const follower = wal.follow();
    hooks.hold(true);
    for (let round = 0; round < 5; round++) {
      const next = follower.next();
      const appended = round % 2 === 0
        ? Promise.all([wal.append("PUT", `a${round}`, "1"), wal.append("PUT", `b${round}`, "2")])
        : wal.appendBatch(Array.from({ length: 200 }, (_, i) => ["PUT", `m${round}.${i}`, "z"] as const));
      await turns();
      assert.ok(hooks.held() >= 1, "the group's fdatasync is in flight");
      assert.equal(await settled(next), false, `round ${round}: nothing yielded while the fdatasync is pending`);
      while (hooks.release() > 0) await turns(2);
      const r = await next;
      assert.equal(r.done, false);
      await appended;
      const key = (r.value as WalRecord).key;
      if (round % 2 === 0) {
        assert.equal(key, `a${round}`);
        assert.equal(((await follower.next()).value as WalRecord).key, `b${round}`);
      } else {
        // The batch's 200 members come one after another without waiting for anything.
        assert.equal(key, `m${round}.0`);
        const members = await take(follower, 199);
        assert.deepEqual(members.map((m) => m.key), Array.from({ length: 199 }, (_, i) => `m${round}.${i + 1}`));
      }
    }
    hooks.hold(false);
    await follower.return();
    await wal.close();
  });
});

test("a batch appears only once its COMMIT is durable, and whole (batch mode)", async () => {
  await withTempDir(async (dir) => {
    const hooks = hookedFs();
    const wal = await WriteAheadLog.open(dir, { fs: hooks.fs, syncMode: "batch", io: "async" });
    await wal.append("PUT", "before", "1");
    const follower = wal.follow();
    assert.equal(((await follower.next()).value as WalRecord).key, "before");
    hooks.hold(true);
    const next = follower.next();
    const batch = wal.appendBatch(Array.from({ length: 500 }, (_, i) => ["PUT", `m${i}`, "v"] as const));
    await turns();
    assert.equal(await settled(next), false, "no member before the COMMIT's fdatasync");
    while (hooks.release() > 0) await turns(2);
    const commit = await batch;
    const members = [((await next).value as WalRecord), ...await take(follower, 499)];
    assert.deepEqual(members.map((m) => m.seqNum), Array.from({ length: 500 }, (_, i) => commit - 500 + i));
    hooks.hold(false);
    await follower.return();
    await wal.close();
  });
});

test("truncate: below what a follower yielded it goes on; over records it has not yielded it ends (WalTruncatedError)", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none", maxFileSize: 4096 });
    for (let i = 1; i <= 200; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
    const caughtUp = wal.follow({ afterSeq: 150 });
    assert.equal((await take(caughtUp, 50)).at(-1)?.seqNum, 200);
    const behind = wal.follow();
    assert.deepEqual((await take(behind, 5)).map((r) => r.seqNum), [1, 2, 3, 4, 5]);
    const waiting = caughtUp.next(); // waits for seq 201
    // Below the caught-up follower's position, over records the one behind has yet to yield.
    await wal.truncate(180);
    await assert.rejects(behind.next(), (e) => e instanceof WalTruncatedError && e.upToSeq === 180 && e.position === 5);
    await wal.append("PUT", "k201", "new");
    assert.equal(((await waiting).value as WalRecord).key, "k201");
    // Up to the last record (the whole log): a caught-up follower loses nothing it had to yield.
    await wal.truncate(201);
    await wal.append("PUT", "k202", "after");
    assert.deepEqual((await take(caughtUp, 1)).map((r) => [r.seqNum, r.key]), [[202, "k202"]]);
    // At the position of a follower that has yielded up to 205 and holds 206.. read but not yet yielded.
    for (let i = 203; i <= 400; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
    assert.deepEqual((await take(caughtUp, 198)).map((r) => r.seqNum), Array.from({ length: 198 }, (_, i) => 203 + i));
    const mid = wal.follow({ afterSeq: 202 });
    assert.equal((await take(mid, 3)).at(-1)?.seqNum, 205);
    await wal.truncate(206);
    await assert.rejects(mid.next(), (e) => e instanceof WalTruncatedError && e.upToSeq === 206 && e.position === 205);
    // Resuming below what a truncate removed (205 < 206) is refused: the follower would skip 206 unseen.
    await assert.rejects(wal.follow({ afterSeq: 205 }).next(), (e) => e instanceof WalTruncatedError && e.upToSeq === 206);
    const after = wal.follow({ afterSeq: 206 });
    await wal.truncate(205); // nothing this follower has to yield is removed: it goes on at 207
    assert.equal((await take(after, 1))[0].seqNum, 207);
    await wal.append("PUT", "k401", "v");
    assert.equal((await take(caughtUp, 1))[0].seqNum, 401);
    await wal.close();
    assert.equal((await caughtUp.next()).done, true);
    assert.equal((await after.next()).done, true);
  });
});

test("close ends followers cleanly (waiting ones and those with records still to yield) and releases their files", async () => {
  await withTempDir(async (dir) => {
    const hooks = hookedFs();
    const wal = await WriteAheadLog.open(dir, { fs: hooks.fs, syncMode: "none" });
    for (let i = 0; i < 300; i++) await wal.append("PUT", `k${i}`, "v");
    const waiting = wal.follow({ afterSeq: 300 });
    const pending = waiting.next();
    const midway = wal.follow();
    await take(midway, 10);
    await turns();
    assert.ok(hooks.openReads() >= 2);
    await wal.close();
    assert.equal(hooks.openReads(), 0, "every follower's descriptor released by close");
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.deepEqual(await midway.next(), { done: true, value: undefined });
    // A follower started on a closed log fails like any read.
    await assert.rejects(wal.follow().next(), WalClosedError);
  });
});

test("abort: before the first step (rejects, opens nothing) and while waiting (rejects with the reason, releases the file)", async () => {
  await withTempDir(async (dir) => {
    const hooks = hookedFs();
    const wal = await WriteAheadLog.open(dir, { fs: hooks.fs, syncMode: "none" });
    await wal.append("PUT", "k", "v");
    const opens = hooks.openReads();
    await assert.rejects(wal.follow({ signal: AbortSignal.abort(new Error("early")) }).next(), /early/);
    assert.equal(hooks.openReads(), opens, "an aborted follower opened nothing");

    const controller = new AbortController();
    const follower = wal.follow({ signal: controller.signal });
    assert.equal(((await follower.next()).value as WalRecord).key, "k");
    const waiting = follower.next();
    await turns();
    assert.equal(hooks.openReads(), opens + 1);
    const reason = new Error("client went away");
    controller.abort(reason);
    assert.equal(hooks.openReads(), opens, "released when the signal aborts");
    await assert.rejects(waiting, (e) => e === reason);
    assert.deepEqual(await follower.next(), { done: true, value: undefined });
    // abort() without a reason: a DOMException named AbortError, as with fetch.
    const c2 = new AbortController();
    const f2 = wal.follow({ afterSeq: 1, signal: c2.signal });
    const w2 = f2.next();
    c2.abort();
    await assert.rejects(w2, (e) => e instanceof DOMException && e.name === "AbortError");
    await assert.rejects(wal.follow({ signal: "no" as unknown as AbortSignal }).next(), WalInvalidArgumentError);
    await assert.rejects(wal.follow({ afterSeq: -1 }).next(), WalInvalidArgumentError);
    await wal.close();
  });
});

test("return() (break out of for await) ends a follower and releases its file; the log goes on", async () => {
  await withTempDir(async (dir) => {
    const hooks = hookedFs();
    const wal = await WriteAheadLog.open(dir, { fs: hooks.fs, syncMode: "none" });
    for (let i = 0; i < 10; i++) await wal.append("PUT", `k${i}`, "v");
    const opens = hooks.openReads();
    let n = 0;
    for await (const r of wal.follow()) {
      if (++n === 3) {
        assert.equal(r.seqNum, 3);
        break;
      }
    }
    assert.equal(hooks.openReads(), opens);
    const follower = wal.follow({ afterSeq: 10 });
    const next = follower.next();
    await wal.append("PUT", "k10", "v");
    assert.equal(((await next).value as WalRecord).seqNum, 11);
    assert.deepEqual(await follower.return(), { done: true, value: undefined });
    assert.equal(hooks.openReads(), opens);
    await wal.append("PUT", "k11", "v");
    assert.deepEqual(await follower.next(), { done: true, value: undefined });
    await wal.close();
  });
});

/** Runs `followers` followers over 400 appends in groups of 1..8; returns generations resolved and groups flushed. */
async function fanOut(dir: string, followers: number): Promise<{ resolutions: number; groups: number }> {
  const wal = await WriteAheadLog.open(dir, { syncMode: "batch" });
  const total = 400;
  const all = Array.from({ length: followers }, () => {
    const f = wal.follow();
    return take(f, total).then(async (records) => {
      await f.return();
      return records;
    });
  });
  await turns();
  const resolutionsBefore = FollowHub.resolutions;
  const groupsBefore = wal.stats().groups;
  let n = 0;
  for (let size = 1; n < total; size = (size % 8) + 1) {
    const burst = Math.min(size, total - n);
    await Promise.all(Array.from({ length: burst }, () => wal.append("PUT", `k${n++}`, "v")));
  }
  const seen = await Promise.all(all);
  const result = { resolutions: FollowHub.resolutions - resolutionsBefore, groups: wal.stats().groups - groupsBefore };
  for (const records of seen) assert.deepEqual(records.map((r) => r.seqNum), Array.from({ length: total }, (_, i) => i + 1));
  await wal.close();
  return result;
}

test("100 followers all see every record; the writer resolves at most one promise per flush, as for 1 follower", async () => {
  const one = await withTempDir((dir) => fanOut(dir, 1));
  const hundred = await withTempDir((dir) => fanOut(dir, 100));
  assert.ok(one.groups > 0 && hundred.groups > 0);
  assert.ok(one.resolutions <= one.groups, `1 follower: ${one.resolutions} wake-ups for ${one.groups} flushes`);
  assert.ok(hundred.resolutions <= hundred.groups, `100 followers: ${hundred.resolutions} wake-ups for ${hundred.groups} flushes`);
});

test("a follower that falls behind by many MiB reads them from disk: the writer holds nothing for it", async () => {
  await withTempDir(async (dir) => {
    const hooks = hookedFs();
    const wal = await WriteAheadLog.open(dir, { fs: hooks.fs, syncMode: "none", maxFileSize: 4 * 1024 * 1024 });
    await wal.append("PUT", "first", "1");
    const follower = wal.follow();
    assert.equal(((await follower.next()).value as WalRecord).key, "first");
    // The follower sits at its first record while 24 MiB go by.
    const value = new Uint8Array(64 * 1024).fill(9);
    const readBefore = hooks.read();
    for (let i = 0; i < 384; i++) await wal.append("PUT", `big${i}`, value);
    assert.equal(hooks.read() - readBefore, 0, "nothing is read, decoded or kept for a follower that does not step");
    let n = 0;
    for await (const r of follower) {
      assert.equal(r.key, `big${n}`);
      assert.equal((r.value as Uint8Array).length, value.length);
      if (++n === 384) break;
    }
    assert.ok(hooks.read() - readBefore >= 384 * value.length, "the records it fell behind on came from the files");
    await wal.close();
  });
});

for (const watching of [true, false]) {
  test(`ReadOnlyLog.follow beside a writer in this process (${watching ? "watch and poll" : "poll only"}): existing then new records, truncate, close`, async () => {
    await withTempDir(async (dir) => {
      const watchers = { open: 0, closed: 0 };
      const readFs: WalFileSystem = {
        ...nodeFileSystem,
        watch: watching
          ? (d, onChange) => {
            const w = nodeFileSystem.watch!(d, onChange);
            if (w === null) return null;
            watchers.open++;
            return { close: () => (watchers.closed++, w.close()) };
          }
          : undefined,
      };
      const wal = await WriteAheadLog.open(dir, { syncMode: "none", maxFileSize: 4096 });
      for (let i = 1; i <= 50; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
      const reader = await WriteAheadLog.openReadOnly(dir, { fs: readFs });
      await assert.rejects(reader.follow({ pollMs: 0 }).next(), WalInvalidArgumentError);
      const follower = reader.follow({ afterSeq: 40, pollMs: 1 });
      const behind = reader.follow({ pollMs: 1 });
      assert.deepEqual((await take(follower, 10)).map((r) => r.seqNum), Array.from({ length: 10 }, (_, i) => 41 + i));
      assert.deepEqual((await take(behind, 2)).map((r) => r.seqNum), [1, 2]);
      const commit = await wal.appendBatch([["PUT", "b1", "x"], ["PUT", "b2", "y"]]);
      for (let i = 0; i < 60; i++) await wal.append("PUT", `n${i}`, "w".repeat(100));
      const batch = await take(follower, 2);
      assert.deepEqual(batch.map((r) => [r.seqNum, r.key]), [[commit - 2, "b1"], [commit - 1, "b2"]]);
      assert.deepEqual((await take(follower, 60)).map((r) => r.key), Array.from({ length: 60 }, (_, i) => `n${i}`));
      // The writer truncates below the follower and over records the one behind has not yielded.
      await wal.truncate(100);
      await wal.append("PUT", "last", "1");
      assert.equal((await take(follower, 1))[0].key, "last");
      await assert.rejects(take(behind, 500), (e) => e instanceof WalTruncatedError && e.position === 2);
      if (watching) assert.ok(watchers.open >= 1, "the directory was watched");
      // The last follower gone: its watcher is closed (no handle keeps the process alive for nobody).
      await follower.return();
      assert.equal(watchers.open, watchers.closed);
      const again = reader.follow({ afterSeq: reader.currentSeqNum() });
      const waiting = again.next();
      await turns();
      await reader.close();
      assert.deepEqual(await waiting, { done: true, value: undefined });
      assert.equal(watchers.open, watchers.closed);
      await wal.close();
    });
  });
}

/** Follows a child writer on `runtime` until it exits; checks every acknowledged record came, once, in order. */
async function followChild(dir: string, runtime: Runtime): Promise<number> {
  const child = spawnChild(runtime, ["write", dir, `g${runtime}`, "7", "700"]);
  await child.ready;
  const reader = await WriteAheadLog.openReadOnly(dir);
  const controller = new AbortController();
  const seen: WalRecord[] = [];
  let lastWanted = Infinity;
  let resolveDone: () => void = () => {};
  const allSeen = new Promise<void>((resolve) => (resolveDone = resolve));
  const following = (async () => {
    for await (const r of reader.follow({ pollMs: 2, signal: controller.signal })) {
      seen.push(r);
      if (r.seqNum >= lastWanted) resolveDone();
    }
  })();
  following.catch(() => {});
  const exit = await child.exited;
  assert.equal(exit.code, 0, exit.stderr);
  // Every record of the log was printed by the child once acknowledged (it awaited all before closing).
  const printed = new Map<number, string>();
  for (const line of exit.stdout.split("\n")) {
    const parts = line.split(" ");
    if (parts[0] === "A") printed.set(Number(parts[1]), parts[2]);
    if (parts[0] === "B") for (const m of parts.slice(2)) printed.set(Number(m.split(":")[0]), m.slice(m.indexOf(":") + 1));
  }
  lastWanted = Math.max(...printed.keys());
  if (seen.length > 0 && seen[seen.length - 1].seqNum >= lastWanted) resolveDone();
  // A hang guard only: a follower that missed a record would wait forever.
  const guard = setTimeout(() => controller.abort(new Error("follower still short of the last record after 60 s")), 60_000);
  await Promise.race([allSeen, following]);
  clearTimeout(guard);
  controller.abort();
  await following.catch(() => {});
  await reader.close();
  assert.deepEqual(seen.map((r) => r.seqNum), [...printed.keys()].sort((a, b) => a - b), "each record once, in order");
  for (const r of seen) {
    assert.equal(r.key, printed.get(r.seqNum));
    assert.equal(r.opType, payloadFor(r.key).opType);
    assert.deepEqual(r.value, payloadFor(r.key).expected);
  }
  return seen.length;
}

test("ReadOnlyLog.follow of a writer in another process (on deno, bun and node): every acknowledged record, in order", async () => {
  for (const runtime of ["deno", "bun", "node"] as Runtime[]) {
    await withTempDir(async (dir) => {
      const n = await followChild(dir, runtime);
      assert.ok(n > 0, `${runtime}: records followed`);
    });
  }
});

test("Followers.cutAfter (the hook truncateAfter(n) calls): ends followers that yielded a seq > n; the others drop what they read past n and read on after n", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none", maxFileSize: 1024 });
    for (let i = 1; i <= 40; i++) await wal.append("PUT", `k${i}`, "v".repeat(40));
    await wal.close();
    // The files stand for the log after truncateAfter(10) and new appends 11..40 (same seqs, "new" records).
    const segments = listSegments(nodeFileSystem, dir);
    const end = nodeFs.statSync(segments[segments.length - 1].path).size;
    const followers = new Followers(nodeFileSystem);
    const hub = new FollowHub();
    const source: FollowSource = {
      segments: () => segments,
      activeEnd: () => end,
      changed: () => hub.next(),
      fill: (state, out, limit, maxBytes) => state.cursor.fill(out, limit, maxBytes),
    };
    const start = () => {
      const slot = { state: null };
      return followLog(followers, source, followers.begin(slot, source, 0), slot);
    };
    const ahead = start();
    const behind = start();
    assert.equal((await take(ahead, 15)).at(-1)?.seqNum, 15);
    assert.equal((await take(behind, 5)).at(-1)?.seqNum, 5); // it has read on to 40: 6..40 wait in its chunk
    followers.cutAfter(10, segments, end, (s) => new WalTruncatedError(10, s.position));
    await assert.rejects(ahead.next(), (e) => e instanceof WalTruncatedError && e.position === 15);
    const rest = await take(behind, 35);
    assert.deepEqual(rest.map((r) => r.seqNum), Array.from({ length: 35 }, (_, i) => i + 6), "6..10 once, then 11.. read again");
    assert.equal(followers.size, 1);
    followers.end(() => "done");
    assert.deepEqual(await behind.next(), { done: true, value: undefined });
  });
});

test("truncateAfter through the API: a follower that yielded a removed seq ends (WalTruncatedError, after); the others get the new records at the reused seqs", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "none", maxFileSize: 4096 });
    for (let i = 1; i <= 100; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
    const ahead = wal.follow({ afterSeq: 0 });
    assert.equal((await take(ahead, 100)).at(-1)?.seqNum, 100);
    const behind = wal.follow({ afterSeq: 0 });
    assert.deepEqual((await take(behind, 3)).map((r) => r.seqNum), [1, 2, 3]);
    const waiting = ahead.next(); // waiting for seq 101
    await wal.truncateAfter(60);
    assert.equal(wal.currentSeqNum(), 60);
    await assert.rejects(waiting, (e) => e instanceof WalTruncatedError && e.position === 100);
    await wal.append("PUT", "new61", "x");
    await wal.appendBatch([["PUT", "new62", "y"]]); // 62 and its COMMIT 63
    // The one behind yields the kept records, then the new ones under the reused seqs: never an old k61..k100.
    const rest = await take(behind, 59);
    assert.deepEqual(rest.map((r) => r.seqNum), Array.from({ length: 59 }, (_, i) => 4 + i));
    assert.deepEqual(rest.slice(-2).map((r) => r.key), ["new61", "new62"]);
    // A new follower after the cut sees the same.
    const fresh = wal.follow({ afterSeq: 59 });
    assert.deepEqual((await take(fresh, 3)).map((r) => r.key), ["k60", "new61", "new62"]);
    await wal.close();
    assert.equal((await behind.next()).done, true);
  });
});

test("a failed fdatasync ends a waiting follower with the error, after every record acknowledged before it", async () => {
  const { CrashFileSystem } = await import("../src/io/crash_fs.ts");
  const fs = new CrashFileSystem();
  const wal = await WriteAheadLog.open("/wal", { fs, syncMode: "sync", io: "inline" });
  for (let i = 1; i <= 5; i++) await wal.append("PUT", `k${i}`, "v");
  const follower = wal.follow();
  assert.equal((await take(follower, 5)).at(-1)?.seqNum, 5);
  const waiting = follower.next();
  fs.inject({ op: "datasync", nth: 1, code: "EIO", pathIncludes: ".wal" });
  await assert.rejects(wal.append("PUT", "lost", "x"));
  await assert.rejects(waiting, (e) => e instanceof Error && (e as { code?: string }).code === "WAL_FAILED");
  await wal.close().catch(() => {});
});
