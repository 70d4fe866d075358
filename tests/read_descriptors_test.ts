// Adversarial: descriptors of read(seq), follow() and a read-only handle are all released: after close, and
// across LRU eviction, truncate, truncateAfter and rotation (Linux: counts /proc/self/fd).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { WriteAheadLog } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

function fds(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

// Deno needs --allow-all to list /proc/self/fd: the test runs on Node and Bun.
const onLinux = !("Deno" in globalThis) && fs.existsSync("/proc/self/fd");

test("read(seq), follow and ReadOnlyLog release every descriptor (LRU, truncate, truncateAfter, close)", { skip: onLinux ? false : "needs /proc/self/fd (Linux; on Deno it needs --allow-all)" }, async () => {
  // The runtime keeps one inotify descriptor per event loop once anything watched (libuv): warm it up first.
  await withTempDir(async (dir) => {
    const w = await WriteAheadLog.open(dir);
    await w.append("PUT", "a", "b");
    const r = await WriteAheadLog.openReadOnly(dir);
    const f = r.follow({ pollMs: 5 });
    await f.next();
    await r.close();
    await f.next();
    await w.close();
  });
  await withTempDir(async (dir) => {
    const base = fds();
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 2048 });
    for (let i = 1; i <= 300; i++) await wal.append("PUT", `k${i}`, "v".repeat(100));
    for (let round = 0; round < 3; round++) for (let s = 1; s <= 300; s += 7) assert.equal((await wal.read(s))?.seqNum, s);
    const followers = Array.from({ length: 20 }, (_, i) => wal.follow({ afterSeq: i * 10 }));
    for (const f of followers) await f.next();
    await wal.truncate(50);
    await wal.truncateAfter(200);
    for (let s = 51; s <= 200; s += 3) assert.equal((await wal.read(s))?.seqNum, s);
    for (let i = 0; i < 100; i++) await wal.append("PUT", `n${i}`, "w".repeat(80));
    for (let s = 51; s <= 300; s += 5) assert.equal((await wal.read(s))?.seqNum, s);
    const reader = await WriteAheadLog.openReadOnly(dir);
    for (let s = 51; s <= 300; s += 5) assert.equal((await reader.read(s))?.seqNum, s);
    const rf = reader.follow({ afterSeq: 100, pollMs: 5 });
    await rf.next();
    await reader.close();
    await wal.close();
    for (const f of followers) await f.next().catch(() => {});
    await rf.next().catch(() => {});
    assert.equal(fds(), base, "descriptors left open after close");
  });
});
