// Adversarial: read(seq) costs one positioned read per record once its segment is indexed (active segment kept
// current by the writer, sealed ones after a first build, across rotation and truncateAfter), agrees with
// iterate() everywhere, and never returns what is not yet acknowledged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { CrashFileSystem } from "../src/io/crash_fs.ts";
import type { WalFile, WalFileSystem } from "../src/io/types.ts";

/** Counts `read` calls on files opened for reading. */
function counting(inner: WalFileSystem): { fs: WalFileSystem; reads: () => number } {
  let reads = 0;
  const fs = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === "openRead") {
        return (path: string): WalFile => {
          const file = (v as WalFileSystem["openRead"]).call(target, path);
          const read = file.read.bind(file);
          file.read = (into: Uint8Array, position: number) => {
            reads++;
            return read(into, position);
          };
          return file;
        };
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { fs, reads: () => reads };
}

async function all(wal: WriteAheadLog): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  for await (const r of wal.iterate()) out.push(r);
  return out;
}

test("read(seq) is one positioned read per record after its segment is indexed, and equals iterate()", async () => {
  const { fs, reads } = counting(new CrashFileSystem());
  const wal = await WriteAheadLog.open("/wal", { fs, maxFileSize: 4096 });
  for (let i = 0; i < 60; i++) {
    if (i % 7 === 3) await wal.appendBatch([["PUT", `b${i}`, "x".repeat(i)], ["DELETE", `c${i}`]]);
    else if (i % 11 === 5) await wal.checkpoint();
    else await wal.append("PUT", `k${i}`, "v".repeat(i * 3));
  }
  const records = await all(wal);
  // First pass builds the indexes; second pass must cost exactly one read per record.
  for (const r of records) assert.deepEqual(await wal.read(r.seqNum), r);
  let before = reads();
  const last = records.at(-1)!.seqNum;
  for (let s = last; s >= last - 3; s--) await wal.read(s); // the active segment (at most 4 sealed cached)
  assert.equal(reads() - before, 4, "reads for 4 records of the active segment");
  // Appends after the index exists are indexed by the writer: no extra read to find them.
  const a = await wal.append("PUT", "after", "y".repeat(50));
  before = reads();
  assert.deepEqual(await wal.read(a), { seqNum: a, opType: "PUT", key: "after", value: "y".repeat(50) });
  assert.equal(reads() - before, 1, "reads for a record appended after the index was built");
  // After a cut inside the active segment and new appends of other sizes.
  await wal.truncateAfter(a - 3);
  const keep = wal.currentSeqNum();
  const b = await wal.append("PUT", "cut-then", "z".repeat(333));
  before = reads();
  assert.deepEqual(await wal.read(b), { seqNum: b, opType: "PUT", key: "cut-then", value: "z".repeat(333) });
  assert.equal(await wal.read(b + 1), undefined);
  assert.equal(reads() - before, 1, "reads after truncateAfter + append");
  const now = await all(wal);
  assert.equal(now.at(-1)!.seqNum, b);
  assert.equal(now.filter((r) => r.seqNum > keep).length, 1);
  for (const r of now) assert.deepEqual(await wal.read(r.seqNum), r);
  // A record of 2 MiB: one read too.
  const big = await wal.append("PUT", "big", new Uint8Array(2 * 1024 * 1024).fill(7));
  await wal.read(big);
  before = reads();
  const got = await wal.read(big);
  assert.equal(reads() - before, 1, "reads for a 2 MiB record");
  assert.equal((got?.value as Uint8Array).length, 2 * 1024 * 1024);
  await wal.close();
});

test("read(seq) of a batch member while its group's fdatasync is in flight is undefined, then the record", async () => {
  const { CrashFileSystem: C } = await import("../src/io/crash_fs.ts");
  const base = new C();
  let release: (() => void) | null = null;
  // A file system whose async fdatasync waits until the test lets it finish.
  const fs = new Proxy(base, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (prop === "openWrite") {
        return (path: string, o: { create: boolean }) => {
          const file = (v as WalFileSystem["openWrite"]).call(target, path, o);
          file.datasyncAsync = () =>
            new Promise<void>((resolve, reject) => {
              release = () => {
                try {
                  file.datasync();
                  resolve();
                } catch (e) {
                  reject(e);
                }
              };
            });
          return file;
        };
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as WalFileSystem;
  const wal = await WriteAheadLog.open("/wal", { fs, syncMode: "sync", io: "async" });
  const p = wal.appendBatch([["PUT", "a", "1"], ["PUT", "b", "2"]]);
  for (let i = 0; i < 5 && release === null; i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(release !== null, "the group's fdatasync is in flight");
  assert.equal(await wal.read(1), undefined);
  assert.equal(await wal.read(3), undefined);
  (release as () => void)();
  assert.equal(await p, 3);
  assert.equal((await wal.read(1))?.key, "a");
  assert.equal((await wal.read(3))?.opType, "COMMIT");
  release = null;
  const closing = wal.close();
  for (let i = 0; i < 5 && release === null; i++) await new Promise((r) => setTimeout(r, 0));
  (release as unknown as (() => void) | null)?.();
  await closing;
});
