/**
 * Scenario "corruption": damages a closed log in each way a disk or a person can, and checks for each what
 * `replay()` returns, what `open` reports in `wal.recovery` (actions, offsets, byte counts, quarantine copies),
 * that an append after recovery is replayable after a reopen, and what `recovery: "strict"` does: it repairs a
 * torn tail exactly as repair mode does (a crash explains it) and refuses any other damage without touching a
 * file.
 *
 * Run: `deno run --allow-read --allow-write scenarios/corruption/main.ts` (or bun / node); `--keep` to inspect.
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { WalCorruptionError, WriteAheadLog } from "../../mod.ts";
import type { RecoveryAction } from "../../mod.ts";
import { describeError, runScenario } from "../shared/setup.ts";
import type { Workspace } from "../shared/setup.ts";
import {
  compareRecords,
  diffSnapshots,
  firstProblem,
  FLAG,
  KIND,
  nameSeq,
  parseSegment,
  quarantineNames,
  sameBytes,
  segmentNames,
  snapshot,
} from "../shared/verify.ts";
import type { ParsedSegment, PlainRecord, Snapshot } from "../shared/verify.ts";

const MAX = 4096;

/** What recovery must do about one kind of damage. */
interface Expectation {
  /** A torn tail: repaired in both modes. Otherwise strict mode must refuse. */
  tail: boolean;
  /** The seq of the first record that is gone (everything from it on); past the end when nothing is lost. */
  lostFrom: number;
  /** The actions, in order: the segment file's name, and the offset the cut starts at. */
  actions: { action: RecoveryAction["action"]; file: string; offset: number; recordsDropped?: number }[];
  /** For strict refusals: the file and offset the WalCorruptionError must name. */
  refusedAt?: { file: string; offset: number };
}

/** The pristine log every case starts from. */
interface Base {
  dir: string;
  records: PlainRecord[];
  segments: ParsedSegment[];
  last: number;
}

async function buildBase(ws: Workspace): Promise<Base> {
  const dir = ws.caseDir("pristine");
  const wal = await WriteAheadLog.open(dir, { maxFileSize: MAX });
  const records: PlainRecord[] = [];
  for (let i = 0; i < 240; i++) {
    if (i % 10 === 5) {
      const ops: [string, string, string][] = [["PUT", `batch-${i}-a`, "a".repeat(i)], ["DELETE", `batch-${i}-b`, ""]];
      const commit = await wal.appendBatch(ops);
      ops.forEach(([op, key, value], j) => records.push({ seqNum: commit - 2 + j, opType: op, key, value }));
    } else {
      const value = i % 3 === 0
        ? Uint8Array.from({ length: i }, (_, j) => (i + j) & 0xff)
        : `value-${i}-${"v".repeat(i % 40)}`;
      records.push({ seqNum: await wal.append("PUT", `key-${i}`, value), opType: "PUT", key: `key-${i}`, value });
    }
  }
  // The last unit is a standalone record, so "the last record cut" is a torn tail of one record.
  records.push({
    seqNum: await wal.append("PUT", "the-last-one", "its value, forty bytes long, more or less"),
    opType: "PUT",
    key: "the-last-one",
    value: "its value, forty bytes long, more or less",
  });
  const last = wal.currentSeqNum();
  await wal.close();
  const segments = segmentNames(dir).map((n) => parseSegment(path.join(dir, n)));
  if (segments.length < 5) throw new Error(`the pristine log has ${segments.length} segments; the cases need 5`);
  return { dir, records, segments, last };
}

function copyDir(from: string, to: string): void {
  for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name));
}

function flipBit(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] ^= 0x10;
  fs.writeFileSync(file, bytes);
}

/** A standalone data record from the middle of a parsed segment (not a batch member: its cut would move). */
function middleStandalone(seg: ParsedSegment): { seq: number; offset: number; length: number } {
  const candidates = seg.records.filter((r) => r.kind === KIND.data && (r.flags & FLAG.batch) === 0);
  const r = candidates[Math.floor(candidates.length / 2)];
  if (r === undefined || r === seg.records[seg.records.length - 1]) {
    throw new Error(`${seg.name} has no standalone record in its middle`);
  }
  return r;
}

/** Strips what differs between two runs of the same repair (quarantine file names carry a time stamp). */
function actionSummary(actions: readonly RecoveryAction[]): string {
  return actions.map((a) => `${a.action} ${path.basename(a.file)}@${a.offset}+${a.bytes} dropped ${a.recordsDropped}`)
    .join("; ");
}

/** Everything a recovered directory holds except quarantine copies and the lock. */
function logFiles(dir: string): Snapshot {
  const all = snapshot(dir);
  for (const name of [...all.keys()]) if (name.startsWith("quarantine-") || name === "LOCK") all.delete(name);
  return all;
}

/**
 * Runs one damaged log through strict and repair mode and checks everything the expectation says.
 * Returns null or the first problem.
 */
async function runCase(
  ws: Workspace,
  base: Base,
  name: string,
  damage: (dir: string) => void,
  expect: Expectation,
): Promise<string | null> {
  const repairDir = ws.caseDir(`${name}-repair`);
  copyDir(base.dir, repairDir);
  damage(repairDir);
  const damaged = snapshot(repairDir);
  const strictDir = ws.caseDir(`${name}-strict`);
  copyDir(repairDir, strictDir);
  const expected = base.records.filter((r) => r.seqNum < expect.lostFrom);
  const nextSeq = Math.min(expect.lostFrom, base.last + 1);

  // Strict first, on its own copy.
  let strictOutcome: { replay: PlainRecord[]; actions: string; files: Snapshot } | null = null;
  try {
    const wal = await WriteAheadLog.open(strictDir, { maxFileSize: MAX, recovery: "strict" });
    try {
      strictOutcome = {
        replay: await wal.replay(),
        actions: actionSummary(wal.recovery.actions),
        files: logFiles(strictDir),
      };
    } finally {
      await wal.close();
    }
    if (!expect.tail) return "strict mode opened a log whose damage no crash explains";
  } catch (e) {
    if (expect.tail) return `strict mode refused a torn tail: ${describeError(e)}`;
    if (!(e instanceof WalCorruptionError)) return `strict mode threw ${describeError(e)}, not WalCorruptionError`;
    const at = expect.refusedAt;
    if (at !== undefined && (path.basename(e.file) !== at.file || e.offset !== at.offset)) {
      return `strict mode named ${path.basename(e.file)}@${e.offset}, expected ${at.file}@${at.offset}`;
    }
    const touched = diffSnapshots(damaged, snapshot(strictDir));
    if (touched !== null) return `strict mode refused but changed the files: ${touched}`;
  }

  // Repair mode.
  const wal = await WriteAheadLog.open(repairDir, { maxFileSize: MAX });
  let repairedFiles: Snapshot;
  try {
    const replay = await wal.replay();
    const report = wal.recovery;
    const problem = firstProblem(
      compareRecords(replay, expected),
      report.clean === (expect.actions.length === 0) ? null : `recovery.clean is ${report.clean}`,
      report.actions.length === expect.actions.length
        ? null
        : `recovery reported ${report.actions.length} action(s) (${
          actionSummary(report.actions)
        }), expected ${expect.actions.length}`,
    );
    if (problem !== null) return `repair: ${problem}`;
    for (let i = 0; i < expect.actions.length; i++) {
      const got = report.actions[i];
      const want = expect.actions[i];
      const file = path.basename(got.file);
      if (got.action !== want.action || file !== want.file || got.offset !== want.offset) {
        return `repair action ${i} is ${got.action} ${file}@${got.offset}, expected ${want.action} ${want.file}@${want.offset}`;
      }
      if (want.recordsDropped !== undefined && got.recordsDropped !== want.recordsDropped) {
        return `repair action ${i} dropped ${got.recordsDropped} records, expected ${want.recordsDropped}`;
      }
      // The quarantine copy must hold exactly the bytes that left the log, and the log exactly the rest.
      const original = damaged.get(want.file);
      if (original === undefined) return `${want.file} was not in the damaged log`;
      const cut = original.subarray(want.offset);
      if (got.bytes !== cut.length) return `repair action ${i} reports ${got.bytes} bytes, ${cut.length} left the log`;
      if (got.action === "cut-zeros") {
        // Zeros carry nothing to keep: the report's offset and length describe them wholly.
        if (!cut.every((b) => b === 0)) return `repair action ${i} cut non-zero bytes as zeros`;
      } else if (got.quarantineFile === undefined || !fs.existsSync(got.quarantineFile)) {
        return `repair action ${i} has no quarantine file`;
      } else if (!sameBytes(new Uint8Array(fs.readFileSync(got.quarantineFile)), cut)) {
        return `quarantine file of action ${i} differs from the bytes cut`;
      }
      const kept = path.join(repairDir, want.file);
      if (want.offset === 0) {
        if (fs.existsSync(kept)) return `${want.file} is still in the log`;
      } else if (!sameBytes(new Uint8Array(fs.readFileSync(kept)), original.subarray(0, want.offset))) {
        return `${want.file} is not its first ${want.offset} bytes after the cut`;
      }
    }
    repairedFiles = logFiles(repairDir);
    if (strictOutcome !== null) {
      const same = firstProblem(
        compareRecords(strictOutcome.replay, replay),
        strictOutcome.actions === actionSummary(report.actions)
          ? null
          : `strict did "${strictOutcome.actions}", repair did "${actionSummary(report.actions)}"`,
        diffSnapshots(repairedFiles, strictOutcome.files),
      );
      if (same !== null) return `strict repaired the tail differently from repair mode: ${same}`;
    }
    const seq = await wal.append("PUT", "after-recovery", "new");
    if (seq !== nextSeq) return `the append after recovery got seq ${seq}, expected ${nextSeq}`;
  } finally {
    await wal.close();
  }
  const reopened = await WriteAheadLog.open(repairDir, { maxFileSize: MAX, recovery: "strict" });
  try {
    return firstProblem(
      reopened.recovery.clean
        ? null
        : `the repaired log needed recovery again: ${actionSummary(reopened.recovery.actions)}`,
      compareRecords(await reopened.replay(), [...expected, {
        seqNum: nextSeq,
        opType: "PUT",
        key: "after-recovery",
        value: "new",
      }]),
    );
  } finally {
    await reopened.close();
  }
}

await runScenario("corruption", {}, async ({ ws, checker }) => {
  const base = await buildBase(ws);
  const segs = base.segments;
  const newest = segs[segs.length - 1];
  const lastRec = newest.records[newest.records.length - 1];
  const endOfLog = base.last + 1;
  console.log(
    `pristine log: ${segs.length} segments, ${base.last} seqs; the last record is ${lastRec.length} bytes at ${newest.name}@${lastRec.offset}`,
  );

  await checker.check(
    `the last record cut at each of its ${lastRec.length} byte offsets is a torn tail, cut in both modes`,
    async () => {
      for (let keep = 0; keep < lastRec.length; keep++) {
        const problem = await runCase(ws, base, `cut-${keep}`, (dir) => {
          fs.truncateSync(path.join(dir, newest.name), lastRec.offset + keep);
        }, {
          tail: true,
          lostFrom: lastRec.seq,
          actions: keep === 0
            ? []
            : [{ action: "cut-tail", file: newest.name, offset: lastRec.offset, recordsDropped: 0 }],
        });
        if (problem !== null) return `cut after ${keep} byte(s): ${problem}`;
      }
      return null;
    },
  );

  await checker.check(
    "a zeroed tail (the last record overwritten with zeros) is cut in both modes, reported as zeros",
    () =>
      runCase(ws, base, "zeroed-tail", (dir) => {
        const file = path.join(dir, newest.name);
        const bytes = fs.readFileSync(file);
        bytes.fill(0, lastRec.offset);
        fs.writeFileSync(file, bytes);
      }, {
        tail: true,
        lostFrom: lastRec.seq,
        actions: [{ action: "cut-zeros", file: newest.name, offset: lastRec.offset }],
      }),
  );

  await checker.check(
    "zeros appended after the last record (preallocated space) are cut, no record lost",
    () =>
      runCase(ws, base, "zeros-appended", (dir) => {
        fs.appendFileSync(path.join(dir, newest.name), new Uint8Array(4096));
      }, { tail: true, lostFrom: endOfLog, actions: [{ action: "cut-zeros", file: newest.name, offset: newest.size }] }),
  );

  await checker.check(
    "garbage appended after the last record is cut, no record lost",
    () =>
      runCase(ws, base, "garbage-appended", (dir) => {
        const garbage = Uint8Array.from({ length: 333 }, (_, i) => (i * 131 + 7) & 0xff);
        fs.appendFileSync(path.join(dir, newest.name), garbage);
      }, { tail: true, lostFrom: endOfLog, actions: [{ action: "cut-tail", file: newest.name, offset: newest.size }] }),
  );

  const older = segs[1];
  const flipped = middleStandalone(older);
  await checker.check(
    `a bit flipped in an older segment (${older.name}, seq ${flipped.seq}): repair keeps the prefix, strict refuses untouched`,
    () =>
      runCase(
        ws,
        base,
        "flip-older",
        (dir) => flipBit(path.join(dir, older.name), flipped.offset + flipped.length - 1),
        {
          tail: false,
          lostFrom: flipped.seq,
          actions: [
            { action: "cut-damage", file: older.name, offset: flipped.offset },
            ...segs.slice(2).map((s) => ({
              action: "quarantined-segment" as const,
              file: s.name,
              offset: 0,
              recordsDropped: s.records.length,
            })),
          ],
          refusedAt: { file: older.name, offset: flipped.offset },
        },
      ),
  );

  const inNewest = middleStandalone(newest);
  await checker.check(
    `a bit flipped mid-newest-segment with valid records after it is damage, not a torn tail`,
    () =>
      runCase(
        ws,
        base,
        "flip-newest",
        (dir) => flipBit(path.join(dir, newest.name), inNewest.offset + inNewest.length - 1),
        {
          tail: false,
          lostFrom: inNewest.seq,
          actions: [{ action: "cut-damage", file: newest.name, offset: inNewest.offset }],
          refusedAt: { file: newest.name, offset: inNewest.offset },
        },
      ),
  );

  const middle = segs[2];
  await checker.check(
    `a segment deleted from the middle (${middle.name}): the later ones are quarantined, strict refuses untouched`,
    () =>
      runCase(ws, base, "missing-segment", (dir) => fs.rmSync(path.join(dir, middle.name)), {
        tail: false,
        lostFrom: nameSeq(middle.name),
        actions: segs.slice(3).map((s) => ({
          action: "quarantined-segment" as const,
          file: s.name,
          offset: 0,
          recordsDropped: s.records.length,
        })),
        refusedAt: { file: segs[3].name, offset: 0 },
      }),
  );

  await checker.check(
    `a truncated segment header (${middle.name} cut to 20 bytes): it and the later ones are quarantined, strict refuses`,
    () =>
      runCase(ws, base, "short-header", (dir) => fs.truncateSync(path.join(dir, middle.name), 20), {
        tail: false,
        lostFrom: nameSeq(middle.name),
        actions: segs.slice(2).map((s, i) => ({
          action: "quarantined-segment" as const,
          file: s.name,
          offset: 0,
          recordsDropped: i === 0 ? 0 : s.records.length,
        })),
        refusedAt: { file: middle.name, offset: 0 },
      }),
  );

  await checker.check(
    `a truncated header of the newest segment is damage too (segments are created whole)`,
    () =>
      runCase(ws, base, "short-header-newest", (dir) => fs.truncateSync(path.join(dir, newest.name), 20), {
        tail: false,
        lostFrom: nameSeq(newest.name),
        actions: [{ action: "quarantined-segment", file: newest.name, offset: 0, recordsDropped: 0 }],
        refusedAt: { file: newest.name, offset: 0 },
      }),
  );

  await checker.check("the pristine log itself opens clean in strict mode", async () => {
    const wal = await WriteAheadLog.open(base.dir, { recovery: "strict" });
    try {
      return firstProblem(
        wal.recovery.clean ? null : "not clean",
        compareRecords(await wal.replay(), base.records),
        quarantineNames(base.dir).length === 0 ? null : "quarantine files appeared",
      );
    } finally {
      await wal.close();
    }
  });
});
