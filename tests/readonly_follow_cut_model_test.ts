// A read-only follower beside a writer that appends (rotating often), cuts the tail (truncateAfter), truncates the
// front below what the follower yielded and reopens, in a random order; the follower looks only when the test
// refreshes the handle. It must yield exactly the log's records in order, and end with WalTruncatedError only
// when a cut since its last look removed a record it had read (then a new follower goes on after what is left).
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { nodeFileSystem } from "../src/io/node_fs.ts";
import { withTempDir } from "./helpers.ts";

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`read-only follower beside random appends, cuts, front truncates and reopens: ended only by a cut of what it read (seed ${seed})`, async () => {
    await withTempDir(async (dir) => {
      const MAX = 200;
      let wal = await WriteAheadLog.open(dir, { maxFileSize: MAX, syncMode: "none" });
      const log = new Map<number, string>();
      let s = seed;
      const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
      let n = 0;
      const reader = await WriteAheadLog.openReadOnly(dir, { fs: { ...nodeFileSystem, watch: undefined } });
      let ctl = new AbortController();
      let it = reader.follow({ signal: ctl.signal, pollMs: 600_000 });
      let seen = 0;
      let minKeep = Infinity;
      let legit = false;
      const ops: string[] = [];
      let pending: Promise<IteratorResult<WalRecord>> | null = null;
      try {
        for (let step = 0; step < 250; step++) {
          const r = rand();
          if (r < 0.5) {
            const k = 1 + Math.floor(rand() * 4);
            ops.push(`append ${k}`);
            for (let i = 0; i < k; i++) { const v = `v${n++}` + "x".repeat(Math.floor(rand() * 40)); log.set(await wal.append("PUT", `k${n}`, v), v); }
          } else if (r < 0.65) {
            const c = wal.currentSeqNum(), f = wal.firstSeqNum();
            const keep = Math.max(f - 1, c - Math.floor(rand() * 6));
            if (keep < c) { ops.push(`cut ${keep} (last ${c})`); await wal.truncateAfter(keep); for (const q of [...log.keys()]) if (q > wal.currentSeqNum()) log.delete(q); minKeep = Math.min(minKeep, wal.currentSeqNum()); }
          } else if (r < 0.7) {
            const f = wal.firstSeqNum();
            const up = f - 1 + Math.floor(rand() * Math.max(0, Math.min(seen, wal.currentSeqNum()) - f + 1));
            if (up >= f) { ops.push(`trunc ${up}`); await wal.truncate(up); for (const q of [...log.keys()]) if (q <= up) log.delete(q); }
          } else if (r < 0.75) {
            ops.push("reopen");
            await wal.close();
            wal = await WriteAheadLog.open(dir, { maxFileSize: MAX, syncMode: "none" });
          } else {
            // A look: read what the follower can get now.
            ops.push(`look`);
            await reader.refresh();
            const target = reader.currentSeqNum();
            legit = legit || minKeep < seen;
            minKeep = Infinity;
            while (seen < target) {
              pending ??= it.next();
              let res: IteratorResult<WalRecord>;
              try {
                res = await pending;
              } catch (e) {
                pending = null;
                const was = legit;
                legit = false;
                assert.ok(e instanceof WalTruncatedError, `step ${step}: ${e}`);
                assert.ok(was, `step ${step}: false cut (seen ${seen}) ${ops.slice(-12).join('; ')}`);
                ctl.abort();
                ctl = new AbortController();
                seen = Math.min(seen, reader.currentSeqNum());
                if (seen < wal.firstSeqNum() - 1) seen = wal.firstSeqNum() - 1;
                it = reader.follow({ signal: ctl.signal, pollMs: 600_000, afterSeq: seen });
                continue;
              }
              pending = null;
              assert.ok(!res.done, `step ${step}: done`);
              assert.equal(res.value.seqNum, seen + 1, `step ${step}: order`);
              assert.equal(res.value.value, log.get(res.value.seqNum), `step ${step}: value of ${res.value.seqNum}`);
              seen = res.value.seqNum;
            }
          }
        }
      } finally {
        ctl.abort();
        await reader.close();
        await wal.close();
      }
    });
  });
}
