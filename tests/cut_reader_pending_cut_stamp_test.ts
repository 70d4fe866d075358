// A read-only follower that looked while a cut was pending (a writer crashed inside truncateAfter, leaving its
// TRUNCATE file) reads the log as the cut will leave it. Once a writer finished that cut, cut again into an older
// segment, and wrote other records up to a segment named as the follower's newest again, byte-identical up to
// where the follower read, the follower must end with WalTruncatedError: records it yielded were replaced.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { WriteAheadLog } from "../mod.ts";
import { encodeTruncateAfterFile } from "../src/format.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { segmentFiles, stepOutcome, withTempDir } from "./helpers.ts";

const names = (dir: string): string[] => segmentFiles(dir).map((p) => path.basename(p));
const key = (i: number): string => `k${String(i).padStart(2, "0")}`;
const long = (i: number): string => `old${String(i).padStart(2, "0")}`.padEnd(40, "x");

test("read-only follower that read a pending cut's view: a later cut into an older segment and that name written again ends it with WalTruncatedError", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 20; i++) await wal.append("PUT", key(i), long(i));
    await wal.close();
    const segs = names(dir);
    const newest = segs[segs.length - 1];
    const newestFirst = Number(newest.slice(0, 20));
    assert.ok(segs.length >= 3 && newestFirst < 19, `premise: several segments, the newest holds several records (${segs})`);
    // What a writer that crashed inside truncateAfter(newestFirst + 1) leaves: its TRUNCATE file, nothing cut yet.
    const keep = newestFirst + 1;
    fs.writeFileSync(path.join(dir, "TRUNCATE"), encodeTruncateAfterFile(keep));
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
    const controller = new AbortController();
    const it = reader.follow({ signal: controller.signal, pollMs: 60_000 });
    for (let i = 1; i <= keep; i++) assert.equal((await it.next()).value?.seqNum, i);
    // The writer comes back (finishing the cut), then cuts into the first segment.
    wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    assert.equal(wal.currentSeqNum(), keep);
    await wal.truncateAfter(2);
    await wal.close();
    const short = (i: number): string => `NEW${String(i).padStart(2, "0")}`;
    wal = await WriteAheadLog.open(dir, { maxFileSize: 32 + (newestFirst - 3) * (32 + 3 + 3 + 5) });
    for (let i = 3; i < newestFirst; i++) await wal.append("PUT", key(i), short(i));
    for (let i = newestFirst; i <= keep; i++) await wal.append("PUT", key(i), long(i));
    await wal.append("PUT", key(keep + 1), "new");
    assert.ok(names(dir).includes(newest), `premise: ${newest} exists again (${names(dir)})`);
    // The only look: after all the writer did (the poll interval is far longer than the test).
    const outcome = await stepOutcome(reader.refresh().then(() => it.next()));
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(outcome, "WalTruncatedError", `records 3..${newestFirst - 1} it yielded were replaced`);
  });
});
