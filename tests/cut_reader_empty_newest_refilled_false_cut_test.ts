// A read-only follower whose newest segment is empty (a cut left it so) read every record before it. The writer
// then appends records into that segment and cuts them away again (truncateAfter back to where the follower
// read), and appends another record. Looking only after all that, the follower yielded nothing that was removed:
// it must go on with the new record, never end with WalTruncatedError (no record it yielded was cut).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { WriteAheadLog } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { segmentFiles, stepOutcome, withTempDir } from "./helpers.ts";

const names = (dir: string): string[] => segmentFiles(dir).map((p) => path.basename(p));
const key = (i: number): string => `k${String(i).padStart(2, "0")}`;
const long = (i: number): string => `old${String(i).padStart(2, "0")}`.padEnd(40, "x");

test("read-only follower on an empty newest segment: records appended there and cut away again are no cut of what it yielded", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 20; i++) await wal.append("PUT", key(i), long(i));
    const segs = names(dir);
    const newest = segs[segs.length - 1];
    const newestFirst = Number(newest.slice(0, 20));
    assert.ok(segs.length >= 3 && newestFirst < 20, `premise: several segments (${segs})`);
    // A cut at the newest segment's boundary: it is left empty.
    await wal.truncateAfter(newestFirst - 1);
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 60_000 });
    for (let i = 1; i < newestFirst; i++) assert.equal((await it.next()).value?.seqNum, i);
    // Records the follower never sees, cut away again: everything it yielded stays.
    for (let i = newestFirst; i < newestFirst + 3; i++) await wal.append("PUT", key(i), "doomed");
    await wal.truncateAfter(newestFirst - 1);
    await wal.append("PUT", key(newestFirst), "kept");
    const outcome = await stepOutcome(reader.refresh().then(() => it.next()));
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(outcome, `yielded ${newestFirst}:kept`, `records 1..${newestFirst - 1} it yielded all remain`);
  });
});
