// Adversarial: ReadOnlyLog.read beside a live writer that rotates, batches and front-truncates, with refreshes
// in between: after each refresh, read(seq) equals what iterate() yields for every seq, undefined past the ends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

test("ReadOnlyLog.read == iterate after each refresh beside a writer that rotates, batches and truncates", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 1200, syncMode: "batch" });
    const reader = await WriteAheadLog.openReadOnly(dir);
    try {
      let n = 0;
      for (let round = 0; round < 30; round++) {
        for (let i = 0; i < 7; i++) {
          n++;
          if (n % 5 === 0) await wal.appendBatch([["PUT", `b${n}`, "x".repeat(n % 90)], ["DELETE", `d${n}`]]);
          else if (n % 13 === 0) await wal.checkpoint();
          else await wal.append("PUT", `k${n}`, "v".repeat((n * 37) % 150));
        }
        if (round % 6 === 5) await wal.truncate(wal.currentSeqNum() - 20);
        // Reads before the refresh, to keep stale indexes around.
        for (let s = reader.firstSeqNum(); s <= reader.currentSeqNum(); s += 3) {
          try {
            await reader.read(s);
          } catch {
            // A removed segment before the refresh may fail; after it nothing may.
          }
        }
        await reader.refresh();
        assert.equal(reader.currentSeqNum(), wal.currentSeqNum(), `round ${round}`);
        const all: WalRecord[] = [];
        for await (const r of reader.iterate()) all.push(r);
        for (const r of all) assert.deepEqual(await reader.read(r.seqNum), r, `round ${round}: read(${r.seqNum})`);
        assert.equal(await reader.read(reader.currentSeqNum() + 1), undefined);
        if (reader.firstSeqNum() > 1) assert.equal(await reader.read(reader.firstSeqNum() - 1), undefined);
        for (const r of all) assert.deepEqual(await wal.read(r.seqNum), r, `round ${round}: writer read(${r.seqNum})`);
      }
    } finally {
      await reader.close();
      await wal.close();
    }
  });
});
