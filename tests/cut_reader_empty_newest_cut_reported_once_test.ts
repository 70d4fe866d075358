// A read-only handle whose newest segment is empty sees a real cut (into an older segment, whose records it read)
// by that segment's new generation, after which the newest segment is again empty under the same name. The cut is
// reported once: a follower started after it, from where the log now ends, must go on with what is appended
// next, never be ended by the same cut seen again at the next look (WalTruncatedError).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { segmentFiles, stepOutcome, withTempDir } from "./helpers.ts";

const names = (dir: string): string[] => segmentFiles(dir).map((p) => path.basename(p));
const key = (i: number): string => `k${String(i).padStart(2, "0")}`;
const long = (i: number): string => `old${String(i).padStart(2, "0")}`.padEnd(40, "x");

test("read-only handle: a cut seen by its empty newest segment's generation ends only the followers that read before it", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    for (let i = 1; i <= 20; i++) await wal.append("PUT", key(i), long(i));
    const segs = names(dir);
    const newest = segs[segs.length - 1];
    const newestFirst = Number(newest.slice(0, 20));
    const olderFirst = Number(segs[segs.length - 3].slice(0, 20));
    assert.ok(segs.length >= 4 && newestFirst < 20, `premise: several segments (${segs})`);
    await wal.truncateAfter(newestFirst - 1);
    const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
    const c1 = new AbortController();
    const first = reader.follow({ signal: c1.signal, pollMs: 60_000 });
    for (let i = 1; i < newestFirst; i++) assert.equal((await first.next()).value?.seqNum, i);
    // A real cut of what `first` yielded; the records written again fill up to the newest segment's name, which
    // is written again and emptied by another cut.
    const keep = olderFirst;
    await wal.truncateAfter(keep);
    await wal.close();
    wal = await WriteAheadLog.open(dir, { maxFileSize: 32 + (newestFirst - 1 - keep) * (32 + 3 + 3 + 5) });
    for (let i = keep + 1; i < newestFirst; i++) await wal.append("PUT", key(i), `NEW${String(i).padStart(2, "0")}`);
    await wal.append("PUT", key(newestFirst), "gone");
    await wal.truncateAfter(newestFirst - 1);
    assert.ok(names(dir).includes(newest), `premise: ${newest} exists again (${names(dir)})`);
    await reader.refresh();
    await assert.rejects(first.next(), WalTruncatedError, "the follower that read the replaced records ends");
    c1.abort();
    // A follower started after the cut, from the log's end as the handle now sees it.
    const c2 = new AbortController();
    const second = reader.follow({ signal: c2.signal, pollMs: 60_000, afterSeq: newestFirst - 1 });
    // Waiting already (next() registers it with the handle at once) when the record is appended and the handle looks.
    const pending = second.next();
    pending.catch(() => {});
    await wal.append("PUT", key(newestFirst), "fresh");
    const outcome = await stepOutcome(reader.refresh().then(() => pending));
    c2.abort();
    await second.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(outcome, `yielded ${newestFirst}:fresh`, "no cut happened after the second follower started");
  });
});
