// Adversary round 4: follow({ afterSeq }) rules on the writer handle and on a read-only handle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

async function first(it: AsyncGenerator<{ seqNum: number }>): Promise<string> {
  try {
    const r = await it.next();
    return r.done ? "done" : `yielded ${r.value.seqNum}`;
  } catch (e) {
    return e instanceof WalTruncatedError ? `WalTruncatedError(${e.upToSeq})` : `threw ${e}`;
  }
}

test("read-only follow({ afterSeq }) below firstSeqNum() - 1 is refused as on the writer (no silent skip)", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `v${i}`);
    await wal.truncate(6);
    const onWriter = await first(wal.follow({ afterSeq: 3 }));
    const reader = await WriteAheadLog.openReadOnly(dir);
    const controller = new AbortController();
    const it = reader.follow({ afterSeq: 3, signal: controller.signal, pollMs: 5 });
    const onReader = await first(it);
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(onWriter, "WalTruncatedError(6)");
    // A consumer resuming after 3 never saw 4..6: the read-only handle must not start at 7 without a word.
    assert.equal(onReader, onWriter);
  });
});

test("read-only follow({ afterSeq }) above the log's last seq is refused as on the writer", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, `v${i}`);
    await wal.truncateAfter(5);
    const onWriter = await first(wal.follow({ afterSeq: 8 }));
    await wal.append("PUT", "k6", "new6");
    await wal.append("PUT", "k7", "new7");
    await wal.append("PUT", "k8", "new8");
    await wal.append("PUT", "k9", "new9");
    const reader = await WriteAheadLog.openReadOnly(dir);
    const controller = new AbortController();
    // Seqs 9.. exist again; the consumer saw the old 6..8, which is the writer's refusal case above.
    const it = reader.follow({ afterSeq: 20, signal: controller.signal, pollMs: 5 });
    const step = first(it);
    for (let i = 10; i <= 21; i++) await wal.append("PUT", `k${i}`, `new${i}`);
    const onReader = await step;
    controller.abort();
    await it.return(undefined);
    await reader.close();
    await wal.close();
    assert.equal(onWriter, "WalTruncatedError(5)");
    assert.match(onReader, /^WalTruncatedError/, `afterSeq 20 above the last seq (10): ${onReader}`);
  });
});
