// A read-only handle's replayStream reads the files of the view it took when it began. When the writer's
// truncateAfter cuts those segments (and writes a segment of a removed name again) while the stream is between
// chunks, the stream meets a cut, not damage: it must end with WalTruncatedError, never report WalCorruptionError
// for a log a writer only appended to and cut.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { WalCorruptionError, WalTruncatedError, WriteAheadLog } from "../mod.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

const names = (dir: string): number[] => segmentFiles(dir).map((p) => Number(path.basename(p).slice(0, 20)));
const key = (i: number): string => `k${String(i).padStart(4, "0")}`;

test("read-only replayStream: a cut under its read ends it with WalTruncatedError, not WalCorruptionError", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
    const count = 2000;
    for (let i = 1; i <= count; i++) await wal.append("PUT", key(i), `old${i}`.padEnd(40, "x"));
    const reader = await WriteAheadLog.openReadOnly(dir);
    const stream = reader.replayStream();
    // The stream reads a chunk at a time: take the first record, then cut well after it, past any first chunk
    // only in seq, and write the cut's names again.
    const first = await stream.next();
    assert.equal(first.value?.seqNum, 1);
    const segs = names(dir);
    const holder = segs.filter((f) => f <= count / 2).at(-1)!;
    const next = segs.find((f) => f > holder)!;
    const keep = holder + 1;
    assert.ok(next - keep - 1 >= 1, `premise: ${holder} ${next} ${keep}`);
    await wal.truncateAfter(keep);
    await wal.close();
    const fresh = (i: number): string => `N${String(i).padStart(4, "0")}`;
    wal = await WriteAheadLog.open(dir, { maxFileSize: 32 + (next - keep - 1) * (32 + 3 + 5 + 5) });
    for (let i = keep + 1; i <= keep + 10; i++) await wal.append("PUT", key(i), fresh(i));
    assert.ok(names(dir).includes(next), `premise: ${next} written again (${names(dir)})`);
    let seen = 1;
    let outcome = "";
    try {
      for (;;) {
        const r = await stream.next();
        if (r.done) {
          outcome = `done at ${seen}`;
          break;
        }
        assert.equal(r.value.seqNum, seen + 1, "order");
        // Never a record written after the cut under a seq the stream yielded before it (see the test's name).
        if (r.value.seqNum > keep) assert.match(String(r.value.value), /^old/, `seq ${r.value.seqNum}`);
        seen = r.value.seqNum;
      }
    } catch (e) {
      outcome = e instanceof WalTruncatedError ? "WalTruncatedError" : e instanceof WalCorruptionError ? `WalCorruptionError: ${e.message}` : `threw ${e}`;
    }
    await reader.close();
    await wal.close();
    assert.equal(outcome, "WalTruncatedError");
  });
});
