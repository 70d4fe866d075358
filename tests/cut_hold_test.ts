// Adversarial: calls held behind a truncateAfter (append, batch, checkpoint, sync, truncate, another cut) with a
// close() in the middle, in every sync mode: what resolves is in the log under the seq it resolved to.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalClosedError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

for (const mode of [{ syncMode: "sync", io: "async" }, { syncMode: "batch" }, { syncMode: "none" }] as const) {
  test(`close() during truncateAfter with held calls (${mode.syncMode}): held calls land, later ones are refused`, async () => {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { ...mode, maxFileSize: 1024 });
      for (let i = 1; i <= 30; i++) await wal.append("PUT", `k${i}`, "v".repeat(50));
      const queued = wal.append("PUT", "queued", "q"); // before the cut: 31, then removed
      const cut = wal.truncateAfter(20);
      const a = wal.append("PUT", "held-a", "1");
      const b = wal.appendBatch([["PUT", "held-b1", "2"], ["PUT", "held-b2", "3"]]);
      const c = wal.checkpoint();
      const s = wal.sync();
      const t = wal.truncate(3);
      const cut2 = wal.truncateAfter(22);
      const d = wal.append("PUT", "held-d", "4");
      const closing = wal.close();
      const refused = wal.append("PUT", "after-close", "5");
      const results = await Promise.allSettled([queued, cut, a, b, c, s, t, cut2, d, closing, refused]);
      const summary = results.map((r) => r.status === "fulfilled" ? `ok ${r.value ?? ""}`.trim() : `err ${(r.reason as Error).name}`);
      assert.equal(results[10].status, "rejected");
      assert.ok((results[10] as PromiseRejectedResult).reason instanceof WalClosedError);
      const again = await WriteAheadLog.open(dir, { recovery: "strict" });
      const log: WalRecord[] = [];
      for await (const r of again.iterate()) log.push(r);
      await again.close();
      const at = (seq: unknown) => log.find((r) => r.seqNum === seq);
      // 20 kept, held-a 21, batch 22,23 + COMMIT 24, checkpoint 25; truncate(3); cut after 22 removes the batch
      // (22 is a member); held-d then takes 22.
      assert.deepEqual(summary, ["ok 31", "ok", "ok 21", "ok 24", "ok 25", "ok", "ok", "ok", "ok 22", "ok", "err WalClosedError"]);
      assert.equal(at(21)?.key, "held-a");
      assert.equal(at(22)?.key, "held-d");
      assert.equal(log[0].seqNum, 4);
      assert.equal(log.at(-1)?.seqNum, 22);
    });
  });
}
