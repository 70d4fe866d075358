/**
 * Scenario "normal": the ten contract checks of the core issue, batch atomicity, and a mixed string/bytes
 * workload, each in a fresh log directory.
 *
 * Run: `deno run --allow-read --allow-write scenarios/normal/main.ts`, `bun scenarios/normal/main.ts` or
 * `node scenarios/normal/main.ts`; add `--keep` to inspect the logs afterwards.
 *
 * @module
 */

import * as fs from "node:fs";
import { WalClosedError, WriteAheadLog } from "../../mod.ts";
import type { WalRecord } from "../../mod.ts";
import { runScenario } from "../shared/setup.ts";
import {
  collect,
  compareRecords,
  contiguousSeqs,
  firstProblem,
  increasingSeqs,
  parseSegment,
  rejection,
  segmentNames,
} from "../shared/verify.ts";
import type { PlainRecord } from "../shared/verify.ts";
import * as path from "node:path";

function rec(seqNum: number, opType: string, key: string, value: string | Uint8Array = ""): PlainRecord {
  return { seqNum, opType, key, value };
}

function expectEqual(what: string, got: unknown, want: unknown): string | null {
  return got === want ? null : `${what} is ${String(got)}, expected ${want}`;
}

/** Bytes whose content depends on `seed` and `i`, so a misplaced chunk cannot compare equal. */
function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

await runScenario("normal", {}, async ({ ws, checker }) => {
  await checker.check("1 seqs: contiguous from 1, batch uses a seq per op plus COMMIT, checkpoint one", async () => {
    const wal = await WriteAheadLog.open(ws.caseDir("seqs"), { syncMode: "sync" });
    try {
      const seqs = [
        await wal.append("PUT", "a", "1"),
        await wal.append("PUT", "b", "2"),
        await wal.append("DELETE", "a"),
      ];
      const commit = await wal.appendBatch([["PUT", "c", "3"], ["PUT", "d", "4"], { opType: "DELETE", key: "b" }]);
      const afterBatch = wal.currentSeqNum();
      const checkpoint = await wal.checkpoint();
      const all = await wal.replay();
      const after = await wal.replay({ afterSeq: 8 });
      return firstProblem(
        expectEqual("append seqs", seqs.join(","), "1,2,3"),
        expectEqual("batch COMMIT seq", commit, 7),
        expectEqual("currentSeqNum after the batch", afterBatch, 7),
        expectEqual("checkpoint seq", checkpoint, 8),
        expectEqual("currentSeqNum after the checkpoint", wal.currentSeqNum(), 8),
        compareRecords(all, [
          rec(1, "PUT", "a", "1"),
          rec(2, "PUT", "b", "2"),
          rec(3, "DELETE", "a"),
          rec(4, "PUT", "c", "3"),
          rec(5, "PUT", "d", "4"),
          rec(6, "DELETE", "b"),
        ]),
        expectEqual("replay({ afterSeq: 8 }) length", after.length, 0),
      );
    } finally {
      await wal.close();
    }
  });

  await checker.check(
    "2 crash by abandoning the handle: reopen recovers every resolved append, numbering resumes",
    async () => {
      const dir = ws.caseDir("abandon");
      const first = await WriteAheadLog.open(dir, { syncMode: "sync" });
      const expected: PlainRecord[] = [];
      for (let i = 1; i <= 50; i++) {
        const seq = await first.append("PUT", `k${i}`, `v${i}`);
        expected.push(rec(seq, "PUT", `k${i}`, `v${i}`));
      }
      // No close(): the second open takes the directory over as a restarted process would.
      const second = await WriteAheadLog.open(dir, { syncMode: "sync" });
      try {
        const stale = await rejection(() => first.append("PUT", "late", "x"));
        const next = await second.append("PUT", "k51", "v51");
        expected.push(rec(next, "PUT", "k51", "v51"));
        return firstProblem(
          "error" in stale && stale.error instanceof WalClosedError
            ? null
            : "the abandoned handle still accepted an append",
          expectEqual("first seq after reopen", next, 51),
          compareRecords(await second.replay(), expected),
        );
      } finally {
        await second.close();
      }
    },
  );

  await checker.check("3 damaged bytes at the end of a segment: replay returns the records before them", async () => {
    const dir = ws.caseDir("damaged-tail");
    const wal = await WriteAheadLog.open(dir);
    const expected: PlainRecord[] = [];
    for (let i = 1; i <= 20; i++) {
      expected.push(rec(await wal.append("PUT", `k${i}`, `value-${i}`), "PUT", `k${i}`, `value-${i}`));
    }
    await wal.close();
    const file = path.join(dir, segmentNames(dir).at(-1)!);
    fs.appendFileSync(file, patternBytes(37, 3));
    const reopened = await WriteAheadLog.open(dir);
    try {
      return firstProblem(
        compareRecords(await reopened.replay(), expected),
        reopened.recovery.clean ? "recovery reported a clean log" : null,
        expectEqual("next seq", await reopened.append("PUT", "after", "x"), 21),
      );
    } finally {
      await reopened.close();
    }
  });

  await checker.check("4 truncate(n) removes seq <= n and keeps the rest with their seqs", async () => {
    const wal = await WriteAheadLog.open(ws.caseDir("truncate"), { maxFileSize: 4096 });
    try {
      const expected: PlainRecord[] = [];
      for (let i = 1; i <= 300; i++) {
        expected.push(rec(await wal.append("PUT", `k${i}`, `v${i}`), "PUT", `k${i}`, `v${i}`));
      }
      await wal.truncate(120);
      const afterFirst = await wal.replay();
      await wal.truncate(10); // already gone: nothing changes
      return firstProblem(
        compareRecords(afterFirst, expected.slice(120)),
        compareRecords(await wal.replay(), expected.slice(120)),
        expectEqual("currentSeqNum", wal.currentSeqNum(), 300),
      );
    } finally {
      await wal.close();
    }
  });

  await checker.check("5 rotation past maxFileSize into several segments; replay spans them", async () => {
    const dir = ws.caseDir("rotation");
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    const expected: PlainRecord[] = [];
    for (let i = 1; i <= 400; i++) {
      expected.push(rec(await wal.append("PUT", `key-${i}`, "x".repeat(40)), "PUT", `key-${i}`, "x".repeat(40)));
    }
    const records = await wal.replay();
    await wal.close();
    const segments = segmentNames(dir);
    return firstProblem(
      segments.length >= 3 ? null : `only ${segments.length} segment(s)`,
      compareRecords(records, expected),
    );
  });

  await checker.check("6 iterate yields COMMIT markers, replay never does", async () => {
    const wal = await WriteAheadLog.open(ws.caseDir("iterate"));
    try {
      await wal.append("PUT", "a", "1");
      await wal.appendBatch([["PUT", "b", "2"], ["PUT", "c", "3"]]);
      const raw = await collect(wal.iterate());
      const replayed = await wal.replay();
      return firstProblem(
        expectEqual("iterate count", raw.length, 4),
        expectEqual("4th record opType", raw[3]?.opType, "COMMIT"),
        contiguousSeqs(raw),
        replayed.some((r) => r.opType === "COMMIT") ? "replay returned a COMMIT" : null,
        expectEqual("replay count", replayed.length, 3),
      );
    } finally {
      await wal.close();
    }
  });

  await checker.check("7 a fresh log: currentSeqNum 0, replay empty", async () => {
    const wal = await WriteAheadLog.open(ws.caseDir("empty"));
    try {
      return firstProblem(
        expectEqual("currentSeqNum", wal.currentSeqNum(), 0),
        expectEqual("replay length", (await wal.replay()).length, 0),
        expectEqual("iterate length", (await collect(wal.iterate())).length, 0),
        wal.recovery.clean ? null : "recovery of a new directory was not clean",
      );
    } finally {
      await wal.close();
    }
  });

  await checker.check("8 100 KB values round-trip exactly (string and bytes)", async () => {
    const dir = ws.caseDir("large");
    const text = Array.from({ length: 100 * 1024 }, (_, i) => String.fromCharCode(97 + (i * 7) % 26)).join("");
    const bytes = patternBytes(100 * 1024, 8);
    const wal = await WriteAheadLog.open(dir, { maxFileSize: 64 * 1024 });
    await wal.append("PUT", "text", text);
    await wal.append("PUT", "bytes", bytes);
    await wal.appendBatch([["PUT", "batch-text", text], ["PUT", "batch-bytes", bytes]]);
    await wal.close();
    const reopened = await WriteAheadLog.open(dir);
    try {
      return compareRecords(await reopened.replay(), [
        rec(1, "PUT", "text", text),
        rec(2, "PUT", "bytes", bytes),
        rec(3, "PUT", "batch-text", text),
        rec(4, "PUT", "batch-bytes", bytes),
      ]);
    } finally {
      await reopened.close();
    }
  });

  await checker.check("9 replay({ afterSeq }) is exclusive, also after a checkpoint", async () => {
    const wal = await WriteAheadLog.open(ws.caseDir("after-seq"));
    try {
      for (let i = 1; i <= 5; i++) await wal.append("PUT", `k${i}`, `v${i}`);
      const cp = await wal.checkpoint();
      await wal.append("PUT", "k7", "v7");
      await wal.appendBatch([["PUT", "k8", "v8"]]);
      const afterCp = await wal.replay({ afterSeq: cp });
      const after3 = await wal.replay({ afterSeq: 3 });
      const streamed = await collect(wal.replayStream({ afterSeq: 3 }));
      return firstProblem(
        expectEqual("checkpoint seq", cp, 6),
        compareRecords(afterCp, [rec(7, "PUT", "k7", "v7"), rec(8, "PUT", "k8", "v8")]),
        compareRecords(after3, [
          rec(4, "PUT", "k4", "v4"),
          rec(5, "PUT", "k5", "v5"),
          rec(7, "PUT", "k7", "v7"),
          rec(8, "PUT", "k8", "v8"),
        ]),
        compareRecords(streamed, after3),
      );
    } finally {
      await wal.close();
    }
  });

  await checker.check("10 seqs never reset across close/reopen, also after truncate removed every record", async () => {
    const dir = ws.caseDir("no-reset");
    let wal = await WriteAheadLog.open(dir);
    for (let i = 1; i <= 10; i++) await wal.append("PUT", `k${i}`, "v");
    await wal.close();
    wal = await WriteAheadLog.open(dir);
    const eleven = await wal.append("PUT", "k11", "v");
    await wal.truncate(1000);
    const emptied = await wal.replay();
    await wal.close();
    wal = await WriteAheadLog.open(dir);
    try {
      const cur = wal.currentSeqNum();
      const twelve = await wal.append("PUT", "k12", "v");
      return firstProblem(
        expectEqual("seq after the first reopen", eleven, 11),
        expectEqual("records left after truncate(1000)", emptied.length, 0),
        expectEqual("currentSeqNum after truncate and reopen", cur, 11),
        expectEqual("seq after truncate and reopen", twelve, 12),
        compareRecords(await wal.replay(), [rec(12, "PUT", "k12", "v")]),
      );
    } finally {
      await wal.close();
    }
  });

  await checker.check(
    "batch atomicity: a batch cut anywhere before the end of its COMMIT is never replayed",
    async () => {
      // Build once, then cut the batch at every record boundary and in the middle of every record.
      const base = ws.caseDir("batch-base");
      const wal = await WriteAheadLog.open(base);
      await wal.append("PUT", "before", "1");
      await wal.appendBatch([["PUT", "b1", "one"], ["PUT", "b2", "two"], ["DELETE", "b3"]]);
      await wal.close();
      const name = segmentNames(base)[0];
      const original = fs.readFileSync(path.join(base, name));
      const seg = parseSegment(path.join(base, name));
      const batchStart = seg.records[1].offset;
      const cuts = new Set<number>();
      for (const r of seg.records.slice(1)) {
        cuts.add(r.offset);
        cuts.add(r.offset + Math.floor(r.length / 2));
        cuts.add(r.offset + r.length - 1);
      }
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        const dir = ws.caseDir(`batch-cut-${cut}`);
        fs.writeFileSync(path.join(dir, name), original.subarray(0, cut));
        const w = await WriteAheadLog.open(dir);
        try {
          const got = await w.replay();
          const problem = firstProblem(
            compareRecords(got, [rec(1, "PUT", "before", "1")]),
            cut > batchStart
              ? expectEqual(
                `records dropped at cut ${cut}`,
                w.recovery.actions[0]?.recordsDropped,
                seg.records.filter((r) => r.flags === 2 && r.offset + r.length <= cut).length,
              )
              : null,
            expectEqual(`next seq at cut ${cut}`, await w.append("PUT", "after", "x"), 2),
          );
          if (problem !== null) return `cut at byte ${cut}: ${problem}`;
        } finally {
          await w.close();
        }
      }
      const whole = await WriteAheadLog.open(base);
      try {
        return compareRecords(await whole.replay(), [
          rec(1, "PUT", "before", "1"),
          rec(2, "PUT", "b1", "one"),
          rec(3, "PUT", "b2", "two"),
          rec(4, "DELETE", "b3"),
        ]);
      } finally {
        await whole.close();
      }
    },
  );

  await checker.check("mixed string/bytes workload survives reopen with value types intact", async () => {
    const dir = ws.caseDir("mixed");
    const expected: PlainRecord[] = [];
    let wal = await WriteAheadLog.open(dir, { maxFileSize: 8192, syncMode: "batch" });
    for (let round = 0; round < 3; round++) {
      const pending: Promise<number>[] = [];
      const planned: Omit<WalRecord, "seqNum">[] = [];
      for (let i = 0; i < 60; i++) {
        const n = round * 1000 + i;
        const value = i % 3 === 0 ? patternBytes(i * 5, n + 1) : i % 3 === 1 ? `text ${n} ✓ ${"é".repeat(i)}` : "";
        const op = i % 7 === 0 ? "DELETE" : i % 11 === 0 ? "APP-OP" : "PUT";
        planned.push({ opType: op, key: `m${n}`, value });
        pending.push(wal.append(op, `m${n}`, value));
      }
      const seqs = await Promise.all(pending);
      seqs.forEach((s, i) => expected.push({ seqNum: s, ...planned[i] }));
      const members: [string, string, string | Uint8Array][] = [
        ["PUT", `batch${round}-a`, patternBytes(33, round + 9)],
        ["PUT", `batch${round}-b`, "ü"],
      ];
      const commit = await wal.appendBatch(members);
      members.forEach(([op, key, value], i) => expected.push(rec(commit - members.length + i, op, key, value)));
      await wal.close();
      wal = await WriteAheadLog.open(dir, { maxFileSize: 8192, syncMode: "batch" });
    }
    try {
      const got = await wal.replay();
      return firstProblem(increasingSeqs(got), compareRecords(got, expected));
    } finally {
      await wal.close();
    }
  });
});
