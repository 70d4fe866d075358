// Adversarial: a follower ended by truncateAfter, resumed the documented way (afterSeq = the last seq it saw that
// the cut kept, from the error's upToSeq), when a second cut queued behind the first ran before the consumer heard.
import { test } from "node:test";
import assert from "node:assert/strict";
import { WalTruncatedError, WriteAheadLog } from "../mod.ts";
import { withTempDir } from "./helpers.ts";

test("two truncateAfter calls in one tick: the follower's WalTruncatedError lets it resume without skipping the new record", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 20; i++) await wal.append("PUT", `old${i}`, "v");
    const follower = wal.follow();
    for (let i = 1; i <= 20; i++) assert.equal((await follower.next()).value?.key, `old${i}`);
    const waiting = follower.next();
    const cuts = Promise.all([wal.truncateAfter(15), wal.truncateAfter(12)]);
    const appended = wal.append("PUT", "new13", "v");
    let error: WalTruncatedError | undefined;
    try {
      await waiting;
    } catch (e) {
      if (e instanceof WalTruncatedError) error = e;
      else throw e;
    }
    assert.ok(error !== undefined, "the follower ends");
    // The consumer resumes after the last record it saw that the cut kept.
    const resumeAfter = Math.min(20, error.upToSeq);
    await cuts;
    assert.equal(await appended, 13);
    // The second cut ran after the first had ended the follower: the consumer, told "after 15", resumes there.
    // The log now ends at 13, before that: the new follower says so rather than wait for seq 16 and skip new13.
    const again = wal.follow({ afterSeq: resumeAfter });
    if (error.upToSeq === 12) {
      assert.equal((await again.next()).value?.key, "new13");
    } else {
      await assert.rejects(again.next(), (e) => e instanceof WalTruncatedError && e.after && e.upToSeq === 13);
    }
    // Resuming at what the log holds now reads the new record.
    const fromEnd = wal.follow({ afterSeq: 12 });
    assert.equal((await fromEnd.next()).value?.key, "new13");
    await wal.close();
  });
});

test("close() while a truncateAfter is under way: a follower that yielded a removed seq does not end cleanly", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir, { syncMode: "sync", io: "async" });
    for (let i = 1; i <= 30; i++) await wal.append("PUT", `old${i}`, "v");
    const follower = wal.follow();
    for (let i = 1; i <= 30; i++) assert.equal((await follower.next()).value?.seqNum, i);
    const waiting = follower.next();
    const inFlight = wal.append("PUT", "old31", "v"); // the cut waits for it
    const cut = wal.truncateAfter(20);
    const closing = wal.close();
    const step = async (): Promise<string> => {
      try {
        const r = await (steps++ === 0 ? waiting : follower.next());
        return r.done ? "done" : `yielded ${r.value.seqNum}`;
      } catch (e) {
        return e instanceof WalTruncatedError ? "WalTruncatedError" : `threw ${e}`;
      }
    };
    let steps = 0;
    let outcome = await step();
    // old31 was acknowledged before the cut began: yielding it is right; the step after it must say it is gone.
    if (outcome === "yielded 31") outcome = await step();
    await Promise.allSettled([inFlight, cut, closing]);
    const again = await WriteAheadLog.open(dir);
    const last = again.currentSeqNum();
    await again.close();
    assert.equal(last, 20, "the cut happened before the close finished");
    // "done" tells the consumer to resume after seq 30, the last it saw: it would skip new records 21..30.
    assert.equal(outcome, "WalTruncatedError");
  });
});

test("follow({ afterSeq }) below what truncate removed says so instead of silently starting later", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 30; i++) await wal.append("PUT", `k${i}`, "v");
    await wal.truncate(20);
    // A consumer resuming from its checkpoint (seq 10) after a truncate it did not see.
    const it = wal.follow({ afterSeq: 10 });
    let outcome: string;
    try {
      const r = await it.next();
      outcome = r.done ? "done" : `yielded ${r.value.seqNum}`;
    } catch (e) {
      outcome = e instanceof WalTruncatedError ? "WalTruncatedError" : `threw ${e}`;
    }
    await it.return(undefined);
    await wal.close();
    assert.equal(outcome, "WalTruncatedError", "records 11..20 were removed before this follower yielded them");
  });
});
