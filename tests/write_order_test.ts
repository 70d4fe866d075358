// The asynchronous write path meets ordering and a second handle: acknowledgements go out in seq order in every
// sync mode (also across a rotation), and a close() still draining when a second open of the same directory in
// this thread supersedes the handle never touches the files again (it used to trim the new handle's records off).
import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { WriteAheadLog } from "../mod.ts";
import type { WalFile, WalFileSystem, WalOptions } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";

/** The crash-simulating file system with an fdatasync that completes off the caller's turn, `delayMs` later. */
function withAsyncSync(base: CrashFileSystem, delayMs: number): WalFileSystem {
  const wrap = (f: WalFile): WalFile => ({
    append: (d) => f.append(d),
    writeAt: (d, p) => f.writeAt(d, p),
    read: (into, p) => f.read(into, p),
    datasync: () => f.datasync(),
    datasyncAsync: () => new Promise<void>((resolve, reject) => setTimeout(() => {
      try {
        f.datasync();
        resolve();
      } catch (e) {
        reject(e);
      }
    }, delayMs)),
    size: () => f.size(),
    truncate: (n) => f.truncate(n),
    close: () => f.close(),
  });
  const openWrite: WalFileSystem["openWrite"] = (p, o) => wrap(base.openWrite(p, o));
  return new Proxy(base, {
    get(target, key) {
      if (key === "openWrite") return openWrite;
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as WalFileSystem;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("acknowledgements come in seq order while a group's fdatasync is in flight, in every mode", async () => {
  const cases: [string, WalOptions, (wal: WriteAheadLog, order: number[]) => Promise<unknown>[]][] = [
    ["none", { syncMode: "none" }, (wal, order) => [
      wal.checkpoint().then((s) => order.push(s)),
      wal.checkpoint().then((s) => order.push(s)),
    ]],
    ["batch", { syncMode: "batch" }, (wal, order) => [
      wal.appendBatch([["PUT", "a", "1"]]).then((s) => order.push(s)),
      wal.appendBatch([["PUT", "b", "1"]]).then((s) => order.push(s)),
    ]],
    ["sync", { maxFileSize: 4096 }, (wal, order) => [
      wal.append("PUT", "a", "x".repeat(1500)).then((s) => order.push(s)),
      wal.append("PUT", "b", "x".repeat(1500)).then((s) => order.push(s)),
    ]],
  ];
  for (const [name, options, first] of cases) {
    const fs = withAsyncSync(new CrashFileSystem({ seed: 5 }), 5);
    const wal = await WriteAheadLog.open("/wal", { ...options, fs, io: "async" });
    const order: number[] = [];
    const pending = first(wal, order);
    await turn();
    await turn();
    // While the first group syncs: a small append, then (sync mode) one that rotates.
    pending.push(wal.append("PUT", "c", "small").then((s) => order.push(s)));
    pending.push(wal.append("PUT", "d", "x".repeat(1500)).then((s) => order.push(s)));
    await Promise.all(pending);
    assert.deepEqual(order, [...order].sort((a, b) => a - b), `${name} mode: resolution order ${order}`);
    await wal.close();
  }
});

test("a second open while close() drains supersedes the closing handle, which leaves the files alone", async () => {
  const disk = new CrashFileSystem({ seed: 6 });
  const fs = withAsyncSync(disk, 20);
  const a = await WriteAheadLog.open("/wal", { fs, io: "async" });
  await a.append("PUT", "a1", "x");
  const inflight = Promise.all([a.append("PUT", "a2", "x"), a.append("PUT", "a3", "x")]);
  await turn(); // a2 and a3 are written; their fdatasync is in flight
  const closing = a.close();
  const b = await WriteAheadLog.open("/wal", { fs, io: "inline" });
  const seqs: number[] = [];
  for (let i = 0; i < 3; i++) seqs.push(await b.append("PUT", `b${i}`, "y"));
  assert.deepEqual(seqs, [4, 5, 6]);
  assert.deepEqual(await inflight, [2, 3]);
  await closing;
  assert.equal(await b.append("PUT", "b-after", "z"), 7, "the new handle still writes where it left off");
  await b.close();
  const reopened = await WriteAheadLog.open("/wal", { fs: disk, recovery: "strict" });
  assert.deepEqual((await reopened.replay()).map((r) => r.key), ["a1", "a2", "a3", "b0", "b1", "b2", "b-after"]);
  assert.ok(reopened.recovery.clean, JSON.stringify(reopened.recovery.actions));
  await reopened.close();
});
