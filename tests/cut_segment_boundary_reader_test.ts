// A truncateAfter whose cut falls on a segment boundary empties the segment that held the next seq. Records
// written after the cut must still never go where the reader read the removed ones, or a reader in another
// process that looks only after the writer wrote the same seqs again (the last one byte-identical at the same
// offset) cannot tell that the records it yielded were replaced.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { WriteAheadLog } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { segmentFiles, stepOutcome, withTempDir } from "./helpers.ts";

const names = (dir: string): string[] => segmentFiles(dir).map((p) => path.basename(p));
const key = (i: number): string => `k${String(i).padStart(2, "0")}`;

for (const restart of [false, true]) {
  test(`read-only follower: truncateAfter at a segment boundary, rewrite${restart ? " after a writer restart" : ""} ends it with WalTruncatedError`, async () => {
    await withTempDir(async (dir) => {
      let wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
      for (let i = 1; i <= 20; i++) await wal.append("PUT", key(i), `old${String(i).padStart(2, "0")}`);
      const segs = names(dir);
      const lastFirst = Number(segs[segs.length - 1].slice(0, 20));
      assert.ok(segs.length >= 2 && lastFirst < 19, `premise: the newest segment holds several records (${segs})`);
      // No watch: the reader looks only when stepped, after all the writer did.
      const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
      const controller = new AbortController();
      const it = reader.follow({ signal: controller.signal, pollMs: 60_000 });
      for (let i = 1; i <= 20; i++) assert.equal((await it.next()).value?.seqNum, i);
      // Keeps every record before the newest segment: that segment loses all its records.
      await wal.truncateAfter(lastFirst - 1);
      if (restart) {
        await wal.close();
        wal = await WriteAheadLog.open(dir, { maxFileSize: 400 });
      }
      for (let i = lastFirst; i <= 19; i++) await wal.append("PUT", key(i), `NEW${String(i).padStart(2, "0")}`);
      await wal.append("PUT", key(20), "old20");
      await wal.append("PUT", key(21), "new21");
      // The only look: after all the writer did (the poll interval is far longer than the test).
      const outcome = await stepOutcome(reader.refresh().then(() => it.next()));
      controller.abort();
      await it.return(undefined);
      await reader.close();
      await wal.close();
      assert.equal(outcome, "WalTruncatedError", `records ${lastFirst}..19 it yielded were replaced`);
    });
  });
}
