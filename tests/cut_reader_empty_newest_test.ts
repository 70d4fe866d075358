// A read-only follower whose newest segment is empty (a cut left it so) read every record of the older ones. The
// writer then cuts into an older segment and, writing other records, rotates into a segment of the same name as
// the follower's empty newest one. Looking only after that, the follower must end with WalTruncatedError: records
// it yielded were replaced, though it read none from the segment whose name came back.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { WriteAheadLog } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { segmentFiles, stepOutcome, withTempDir } from "./helpers.ts";

const names = (dir: string): string[] => segmentFiles(dir).map((p) => path.basename(p));
const key = (i: number): string => `k${String(i).padStart(2, "0")}`;
const long = (i: number): string => `old${String(i).padStart(2, "0")}`.padEnd(40, "x");

test("read-only follower on an empty newest segment: a cut into an older one and that name written again ends it with WalTruncatedError", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 20; i++) await wal.append("PUT", key(i), long(i));
    const segs = names(dir);
    const newest = segs[segs.length - 1];
    const newestFirst = Number(newest.slice(0, 20));
    const olderFirst = Number(segs[segs.length - 3].slice(0, 20));
    assert.ok(segs.length >= 4 && newestFirst < 20, `premise: several segments (${segs})`);
    // A cut at the newest segment's boundary: it is left empty.
    await wal.truncateAfter(newestFirst - 1);
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 60_000 });
    for (let i = 1; i < newestFirst; i++) assert.equal((await it.next()).value?.seqNum, i);
    // A cut into an older segment, leaving it one record; then other records up to where the follower read, filling
    // a segment exactly, so that the next record starts a segment named as the follower's newest.
    const keep = olderFirst;
    await wal.truncateAfter(keep);
    await wal.close();
    const short = (i: number): string => `NEW${String(i).padStart(2, "0")}`;
    wal = await WriteAheadLog.open(dir, { maxFileSize: 32 + (newestFirst - 1 - keep) * (32 + 3 + 3 + 5) });
    for (let i = keep + 1; i < newestFirst; i++) await wal.append("PUT", key(i), short(i));
    await wal.append("PUT", key(newestFirst), "new");
    assert.ok(names(dir).includes(newest), `premise: ${newest} exists again (${names(dir)})`);
    // The only look: after all the writer did (the poll interval is far longer than the test).
    const outcome = await stepOutcome(reader.refresh().then(() => it.next()));
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(outcome, "WalTruncatedError", `records ${keep + 1}..${newestFirst - 1} it yielded were replaced`);
  });
});
