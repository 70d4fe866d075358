// Adversary round 4: "the newest segment gone while older ones remain counts as a cut" (src/readonly.ts readOn).
// A writer that crashed right after creating a segment leaves it without a usable header; the next writer's open
// quarantines it (recordsDropped 0). A read-only follower that read every record is then ended as if the tail
// had been cut, though nothing it yielded is gone, and the next record (seq 6) is the one it should yield.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

for (const variant of ["empty", "zero header"] as const) {
  test(`read-only follower: a header-less newest segment quarantined by the next open is not a cut (${variant})`, async () => {
    await withTempDir(async (dir) => {
      let wal = await WriteAheadLog.open(dir);
      for (let i = 1; i <= 5; i++) await wal.append("PUT", `k${i}`, `v${i}`);
      await wal.close();
      // What a crash between creating segment 6 and its header reaching the disk leaves.
      fs.writeFileSync(path.join(dir, String(6).padStart(20, "0") + ".wal"), new Uint8Array(variant === "empty" ? 0 : 32));
      const reader = await WriteAheadLog.openReadOnly(dir);
      const controller = new AbortController();
      const it = reader.follow({ signal: controller.signal, pollMs: 5 });
      for (let i = 1; i <= 5; i++) assert.equal((await it.next()).value?.seqNum, i);
      wal = await WriteAheadLog.open(dir);
      assert.equal(wal.recovery.actions[0]?.action, "quarantined-segment", "premise: the open quarantines it");
      assert.equal(await wal.append("PUT", "k6", "v6"), 6);
      let outcome: string;
      try {
        const r = await it.next();
        outcome = `yielded ${r.value?.seqNum}`;
      } catch (e) {
        outcome = e instanceof WalTruncatedError ? `WalTruncatedError(upToSeq ${e.upToSeq})` : `threw ${e}`;
      }
      controller.abort();
      await it.return(undefined);
      await reader.close();
      await wal.close();
      assert.equal(outcome, "yielded 6");
    });
  });
}
