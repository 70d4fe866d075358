// A follower is subject to its signal from the call to follow() on, as it is to truncates and close(): whichever
// ends it first is what its first step reports, as for a follower already running.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

async function outcome(follower: AsyncGenerator<unknown>): Promise<unknown> {
  try {
    const step = await follower.next();
    return step.done ? "done" : step.value;
  } catch (e) {
    return e;
  }
}

test("a signal aborted before a follower's first step wins over a later truncate, truncateAfter or close()", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, "v");
    const cancelled = new Error("consumer cancelled");
    const a = new AbortController();
    const beforeTruncate = wal.follow({ afterSeq: 2, signal: a.signal });
    const b = new AbortController();
    const beforeCut = wal.follow({ afterSeq: 9, signal: b.signal });
    const c = new AbortController();
    const beforeClose = wal.follow({ afterSeq: 7, signal: c.signal });
    a.abort(cancelled);
    b.abort(cancelled);
    c.abort(cancelled);
    await wal.truncate(5);
    await wal.truncateAfter(8);
    // The other order: a truncate that comes first is what the step reports (as for a running follower).
    const d = new AbortController();
    const truncatedFirst = wal.follow({ afterSeq: 6, signal: d.signal });
    await wal.truncate(7);
    d.abort(cancelled);
    await wal.close();
    assert.equal(await outcome(beforeTruncate), cancelled, "aborted, then truncate(5) removed seqs 3..5");
    assert.equal(await outcome(beforeCut), cancelled, "aborted, then truncateAfter(8) removed seq 9..10");
    assert.equal(await outcome(beforeClose), cancelled, "aborted, then close()");
    const error = await outcome(truncatedFirst);
    assert.ok(error instanceof WalTruncatedError, `truncate(7), then aborted: ${error}`);
  });
});
