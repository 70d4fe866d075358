// A read-only follower in another process read segments A..Z; the writer cuts into an older segment (Z goes), then
// writes other records there and rotates into a segment named Z again, whose tail is byte-identical to the one
// the follower read last. Looking only after all that (no watch), the follower must still end with
// WalTruncatedError: the records it yielded between the cut and Z were replaced.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { WriteAheadLog } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { segmentFiles, stepOutcome, withTempDir } from "./helpers.ts";

const names = (dir: string): string[] => segmentFiles(dir).map((p) => path.basename(p));
const key = (i: number): string => `k${String(i).padStart(2, "0")}`;
const long = (i: number): string => `old${String(i).padStart(2, "0")}`.padEnd(40, "x");

test("read-only follower: truncateAfter into an older segment, the newest one's name written again ends it with WalTruncatedError", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 20; i++) await wal.append("PUT", key(i), long(i));
    const segs = names(dir);
    const newestFirst = Number(segs[segs.length - 1].slice(0, 20));
    assert.ok(segs.length >= 3 && newestFirst < 20, `premise: several segments, the newest holds several records (${segs})`);
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 60_000 });
    for (let i = 1; i <= 20; i++) assert.equal((await it.next()).value?.seqNum, i);
    await wal.truncateAfter(2);
    await wal.close();
    // Records 3..newestFirst-1 again, shorter, filling one segment exactly, so that the next rotation starts a
    // segment named as the follower's newest.
    const short = (i: number): string => `NEW${String(i).padStart(2, "0")}`;
    const recordBytes = 32 + 3 + 3 + 5;
    wal = await WriteAheadLog.open(dir, { maxFileSize: 32 + (newestFirst - 3) * recordBytes });
    for (let i = 3; i < newestFirst; i++) await wal.append("PUT", key(i), short(i));
    for (let i = newestFirst; i <= 20; i++) await wal.append("PUT", key(i), long(i));
    await wal.append("PUT", key(21), "new21");
    assert.ok(names(dir).includes(segs[segs.length - 1]), `premise: ${segs[segs.length - 1]} exists again (${names(dir)})`);
    // The only look: after all the writer did (the poll interval is far longer than the test).
    const outcome = await stepOutcome(reader.refresh().then(() => it.next()));
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(outcome, "WalTruncatedError", `records 3..${newestFirst - 1} it yielded were replaced`);
  });
});
