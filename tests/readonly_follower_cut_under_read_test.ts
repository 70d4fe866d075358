// A read-only follower reads the files between the handle's looks. When the writer's truncateAfter cuts the
// segments under its read (and writes a segment of a removed name again) before the handle looked, what the
// follower meets is a cut, not damage: it must end with WalTruncatedError (or go on with the log's records),
// never report WalCorruptionError for a log a writer only appended to and cut.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { WalCorruptionError, WalTruncatedError, WriteAheadLog } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

const names = (dir: string): number[] => segmentFiles(dir).map((p) => Number(path.basename(p).slice(0, 20)));
const key = (i: number): string => `k${String(i).padStart(3, "0")}`;

test("read-only follower: a cut under its read before the handle looked ends it with WalTruncatedError, not WalCorruptionError", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 200; i++) await wal.append("PUT", key(i), `old${i}`.padEnd(40, "x"));
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 60_000 });
    // The follower's first read takes a chunk of records; it yields them all before it reads the files again.
    let seen = 0;
    for (; seen < 128; seen++) assert.equal((await it.next()).value?.seqNum, seen + 1);
    const segs = names(dir);
    const holder = segs.filter((f) => f <= seen + 2).at(-1)!;
    const next = segs.find((f) => f > holder)!;
    const keep = holder + 1;
    assert.ok(keep > seen && next - keep - 1 >= 1, `premise: ${holder} ${next} ${keep}`);
    await wal.truncateAfter(keep);
    await wal.close();
    // New records fill the new segment so that the next one is named as a removed one was.
    const fresh = (i: number): string => `N${String(i).padStart(3, "0")}`;
    wal = await WriteAheadLog.open(dir, { maxFileSize: 32 + (next - keep - 1) * (32 + 3 + 4 + 4) });
    for (let i = keep + 1; i <= keep + 10; i++) await wal.append("PUT", key(i), fresh(i));
    assert.ok(names(dir).includes(next), `premise: ${next} written again (${names(dir)})`);
    const current = new Map<number, string>();
    for (const r of await (async () => {
      const ro = await WriteAheadLog.openReadOnly(dir);
      try {
        return await ro.replay();
      } finally {
        await ro.close();
      }
    })()) current.set(r.seqNum, r.value as string);
    let outcome = "";
    try {
      for (;;) {
        const r = await it.next();
        assert.ok(!r.done);
        assert.equal(r.value.seqNum, seen + 1, "order");
        assert.equal(r.value.value, current.get(r.value.seqNum), `seq ${r.value.seqNum} is the log's record`);
        seen = r.value.seqNum;
        if (seen === keep + 10) {
          outcome = "read on";
          break;
        }
      }
    } catch (e) {
      outcome = e instanceof WalTruncatedError ? "WalTruncatedError" : e instanceof WalCorruptionError ? `WalCorruptionError: ${e.message}` : `threw ${e}`;
    }
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.ok(outcome === "WalTruncatedError" || outcome === "read on", outcome);
  });
});
