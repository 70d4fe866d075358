// Adversary round 4: a read-only follower beside a writer that only appends (rotating often) and truncates the
// front below what the follower yielded must never be ended as if the tail was cut, at any poll timing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

for (const pollMs of [1, 1000]) {
  test(`read-only follower: rotations and front truncates below it are never a cut (pollMs ${pollMs})`, async () => {
    await withTempDir(async (dir) => {
      const wal = await WriteAheadLog.open(dir, { maxFileSize: 200, syncMode: "none" });
      await wal.append("PUT", "k0", "v0");
      const reader = await WriteAheadLog.openReadOnly(dir);
      const controller = new AbortController();
      const it = reader.follow({ signal: controller.signal, pollMs });
      let seen = 0;
      let s = 7;
      const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
      try {
        for (let step = 0; step < 120; step++) {
          const k = 1 + Math.floor(rand() * 6);
          for (let i = 0; i < k; i++) await wal.append("PUT", `k${step}-${i}`, "v".repeat(Math.floor(rand() * 50)));
          if (rand() < 0.3 && seen > wal.firstSeqNum()) await wal.truncate(wal.firstSeqNum() - 1 + Math.floor(rand() * (seen - wal.firstSeqNum() + 1)));
          if (rand() < 0.5) {
            const target = wal.currentSeqNum();
            while (seen < target) {
              const r = (await it.next()) as IteratorResult<WalRecord>;
              assert.ok(!r.done, `step ${step}: ended`);
              assert.equal(r.value.seqNum, seen + 1, `step ${step}: order`);
              seen = r.value.seqNum;
            }
          }
        }
      } finally {
        controller.abort();
        await it.return(undefined);
        await reader.close();
        await wal.close();
      }
    });
  });
}
