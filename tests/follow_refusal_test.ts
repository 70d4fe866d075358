// Adversary round 4: a follower ends on a refusal of the writer handle "after everything acknowledged was yielded".
// A read that finds damage elsewhere refuses the handle while a group's fdatasync is in flight; that group is then
// acknowledged all the same, and the follower that already ended never yields it.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { WalCorruptionError, WriteAheadLog } from "../mod.ts";
import { segmentFiles, withTempDir } from "./helpers.ts";

test("a read meeting damage while a group's fdatasync is in flight: the follower ends before that group, which is acknowledged", async () => {
  await withTempDir(async (dir) => {
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 300 });
    for (let i = 1; i <= 12; i++) await wal.append("PUT", `k${i}`, `value-${i}`);
    await wal.close();
    const segs = segmentFiles(dir);
    assert.ok(segs.length >= 2, "premise: several segments");
    // Damage a value byte of record 2 in the oldest (sealed) segment: open with verify "tail" does not look there.
    const bytes = fs.readFileSync(segs[0]);
    const at = bytes.indexOf(Buffer.from("value-2"));
    assert.ok(at > 0);
    bytes[at] ^= 0xff;
    fs.writeFileSync(segs[0], bytes);
    wal = await WriteAheadLog.open(dir, { verify: "tail", io: "async", syncMode: "sync", maxFileSize: 300 });
    const it = wal.follow({ afterSeq: wal.currentSeqNum() });
    const step = it.next().then(
      (r) => (r.done ? "done" : `yielded ${r.value.seqNum}`),
      (e) => (e instanceof WalCorruptionError ? "WalCorruptionError" : `threw ${e}`),
    );
    // A group of two: its fdatasync runs off the thread (io "async").
    const p1 = wal.append("PUT", "a", "1").then((s) => `acked ${s}`, (e) => `rejected ${e?.constructor?.name}`);
    const p2 = wal.append("PUT", "b", "2").then((s) => `acked ${s}`, (e) => `rejected ${e?.constructor?.name}`);
    for (let i = 0; i < 5; i++) await Promise.resolve();
    const read = await wal.read(2).then(() => "read ok", (e) => (e instanceof WalCorruptionError ? "read: WalCorruptionError" : `read threw ${e}`));
    const acks = [await p1, await p2];
    const first = await step;
    await wal.close().catch(() => {});
    assert.equal(read, "read: WalCorruptionError", "premise: the read meets the damage");
    // Either the follower yields what the handle acknowledged, or the handle did not acknowledge it.
    if (acks[0] === "acked 13") assert.equal(first, "yielded 13", `appends: ${acks}; follower: ${first}`);
  });
});
