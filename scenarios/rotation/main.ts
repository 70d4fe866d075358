/**
 * Scenario "rotation": a log with the smallest `maxFileSize` (4096) takes thousands of records and batches of
 * varied size, some larger than a segment. Checks the segment count against the rotation rule, the size bound
 * (a segment exceeds `maxFileSize` only when it holds one oversize record or batch), that no batch spans two
 * segments, that `replay()` and `replay({ afterSeq })` span segments, that truncate deletes whole segments and
 * leaves the later ones untouched, and that reopening continues the numbering.
 *
 * Run: `deno run --allow-read --allow-write scenarios/rotation/main.ts` (or bun / node); `--keep` to inspect.
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { WriteAheadLog } from "../../mod.ts";
import { runScenario } from "../shared/setup.ts";
import {
  compareRecords,
  diffSnapshots,
  firstProblem,
  FLAG,
  KIND,
  nameSeq,
  parseSegment,
  RECORD_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  segmentNames,
  snapshot,
} from "../shared/verify.ts";
import type { PlainRecord } from "../shared/verify.ts";

const MAX = 4096;
const utf8 = new TextEncoder();

/** One write unit of the workload: a standalone record (alone or in a concurrent group) or a batch. */
type Unit = { kind: "one"; rec: PlainRecord; group: number } | {
  kind: "batch";
  recs: PlainRecord[];
  commitSeq: number;
};

function recordBytes(r: PlainRecord): number {
  const value = typeof r.value === "string" ? utf8.encode(r.value).length : r.value.length;
  return RECORD_HEADER_BYTES + utf8.encode(r.opType).length + utf8.encode(r.key).length + value;
}

function unitBytes(u: Unit): number {
  return u.kind === "one" ? recordBytes(u.rec) : u.recs.reduce((n, r) => n + recordBytes(r), RECORD_HEADER_BYTES);
}

function unitFirstSeq(u: Unit): number {
  return u.kind === "one" ? u.rec.seqNum : u.recs[0].seqNum;
}

/** The workload: sizes cycle through small, medium and (now and then) larger-than-a-segment. */
function makeWorkload(units: number): { units: Unit[]; records: PlainRecord[] } {
  const out: Unit[] = [];
  const records: PlainRecord[] = [];
  let seq = 1;
  let group = 0;
  const make = (key: string, size: number, bytes: boolean): PlainRecord => {
    const value = bytes
      ? Uint8Array.from({ length: size }, (_, i) => (i * 31 + seq) & 0xff)
      : key.slice(-1).repeat(size);
    const r = { seqNum: seq++, opType: size === 0 ? "DELETE" : "PUT", key, value };
    records.push(r);
    return r;
  };
  for (let u = 0; u < units; u++) {
    const r = u % 12;
    if (u % 97 === 50) {
      out.push({ kind: "one", rec: make(`big-${u}`, MAX + 500, u % 2 === 0), group: group++ }); // oversize record
    } else if (u % 131 === 70) {
      const recs = Array.from({ length: 6 }, (_, j) => make(`bigbatch-${u}-${j}`, 900, j % 2 === 0)); // oversize batch
      out.push({ kind: "batch", recs, commitSeq: seq++ });
    } else if (r < 6) {
      out.push({ kind: "one", rec: make(`k-${u}`, (u * 37) % 300, u % 5 === 0), group: group++ });
    } else if (r < 8) {
      const g = group++;
      for (let j = 0; j < 3 + (u % 4); j++) {
        out.push({ kind: "one", rec: make(`c-${u}-${j}`, (u + j * 13) % 120, false), group: g });
      }
    } else {
      const n = 1 + (u * 7) % 30;
      const recs = Array.from({ length: n }, (_, j) => make(`b-${u}-${j}`, (u * 11 + j * 17) % 150, j % 4 === 1));
      out.push({ kind: "batch", recs, commitSeq: seq++ });
    }
  }
  return { units: out, records };
}

/** The first seq of each segment the rotation rule produces, starting from an empty log. */
function expectedSegmentStarts(units: Unit[]): number[] {
  const starts = [1];
  let planned = SEGMENT_HEADER_BYTES;
  for (const u of units) {
    const size = unitBytes(u);
    if (planned > SEGMENT_HEADER_BYTES && planned + size > MAX) {
      starts.push(unitFirstSeq(u));
      planned = SEGMENT_HEADER_BYTES + size;
    } else {
      planned += size;
    }
  }
  return starts;
}

async function write(wal: WriteAheadLog, units: Unit[]): Promise<string | null> {
  for (let i = 0; i < units.length;) {
    const u = units[i];
    if (u.kind === "batch") {
      const got = await wal.appendBatch(u.recs.map((r) => [r.opType, r.key, r.value] as const));
      if (got !== u.commitSeq) return `batch got COMMIT seq ${got}, expected ${u.commitSeq}`;
      i++;
      continue;
    }
    const pending: Promise<number>[] = [];
    const want: number[] = [];
    for (; i < units.length; i++) {
      const v = units[i];
      if (v.kind !== "one" || v.group !== u.group) break;
      pending.push(wal.append(v.rec.opType, v.rec.key, v.rec.value));
      want.push(v.rec.seqNum);
    }
    const got = await Promise.all(pending);
    if (got.join() !== want.join()) return `appends got seqs ${got.join()}, expected ${want.join()}`;
  }
  return null;
}

await runScenario("rotation", {}, async ({ ws, checker }) => {
  const dir = ws.caseDir("rotation");
  const { units, records } = makeWorkload(1500);
  const last = records.length === 0
    ? 0
    : Math.max(...units.map((u) => (u.kind === "batch" ? u.commitSeq : u.rec.seqNum)));
  console.log(`${units.length} units, ${last} seqs, maxFileSize ${MAX}`);
  let wal = await WriteAheadLog.open(dir, { maxFileSize: MAX });

  await checker.check("every append and batch resolves to its planned seq", () => write(wal, units));
  await wal.close();
  const names = segmentNames(dir);
  const parsed = names.map((n) => parseSegment(path.join(dir, n)));

  await checker.check("the segment count and boundaries follow the rotation rule", () => {
    const starts = expectedSegmentStarts(units);
    const got = names.map(nameSeq);
    if (got.length !== starts.length) return `${got.length} segments, expected ${starts.length}`;
    const i = got.findIndex((s, j) => s !== starts[j]);
    return i < 0 ? null : `segment ${i} starts at seq ${got[i]}, expected ${starts[i]}`;
  });

  await checker.check("each segment is well formed: header seq = name, records contiguous to the file's end", () => {
    let expected = 1;
    for (const seg of parsed) {
      if (seg.firstSeq !== nameSeq(seg.name)) return `${seg.name}: header says first seq ${seg.firstSeq}`;
      if (seg.end !== seg.size) return `${seg.name}: records end at ${seg.end} of ${seg.size} bytes`;
      if (seg.records[0]?.seq !== expected) {
        return `${seg.name}: first record ${seg.records[0]?.seq}, expected ${expected}`;
      }
      expected = seg.records[seg.records.length - 1].seq + 1;
    }
    return expected === last + 1 ? null : `the segments end at seq ${expected - 1}, expected ${last}`;
  });

  await checker.check(
    `size bound: a segment exceeds ${MAX} bytes only when it holds one oversize record or batch`,
    () => {
      let oversize = 0;
      for (const seg of parsed) {
        if (seg.size <= MAX) continue;
        oversize++;
        const units = seg.records.filter((r) => r.kind !== KIND.data || (r.flags & FLAG.batch) === 0).length;
        if (units !== 1) return `${seg.name} is ${seg.size} bytes and holds ${units} units`;
      }
      return oversize > 0 ? null : "the workload produced no oversize segment, so the bound was not exercised";
    },
  );

  await checker.check("no batch spans two segments", () => {
    let batches = 0;
    for (const seg of parsed) {
      let open = 0;
      for (const r of seg.records) {
        if (r.kind === KIND.data && (r.flags & FLAG.batch) !== 0) open++;
        else if (r.kind === KIND.commit) {
          if (open === 0) return `${seg.name}: COMMIT ${r.seq} without members in the same segment`;
          open = 0;
          batches++;
        } else if (open > 0) return `${seg.name}: seq ${r.seq} interrupts a batch`;
      }
      if (open > 0) return `${seg.name} ends with ${open} batch member(s) whose COMMIT is elsewhere`;
    }
    return batches > 0 ? null : "no batch found";
  });

  wal = await WriteAheadLog.open(dir, { maxFileSize: MAX });
  await checker.check(
    `replay() spans all ${names.length} segments`,
    async () => compareRecords(await wal.replay(), records),
  );

  await checker.check("replay({ afterSeq }) spans segments from every kind of starting point", async () => {
    const points = new Set<number>([0, 1, last - 1, last, last + 10]);
    for (
      const s of names.map(nameSeq).filter((_, i) => i % Math.ceil(names.length / 12) === 0 || i === names.length - 1)
    ) {
      for (const p of [s - 2, s - 1, s, s + 1]) if (p >= 0) points.add(p);
    }
    for (const p of [...points].sort((a, b) => a - b)) {
      const problem = compareRecords(await wal.replay({ afterSeq: p }), records.filter((r) => r.seqNum > p));
      if (problem !== null) return `afterSeq ${p}: ${problem}`;
    }
    return null;
  });

  await checker.check("reopening continues the numbering and the segment names", async () => {
    await wal.close();
    wal = await WriteAheadLog.open(dir, { maxFileSize: MAX });
    const cur = wal.currentSeqNum();
    const before = segmentNames(dir);
    let seq = 0;
    for (let i = 0; i < 60; i++) seq = await wal.append("PUT", `after-reopen-${i}`, "z".repeat(200));
    const extra = segmentNames(dir).filter((n) => !before.includes(n));
    const more = Array.from(
      { length: 60 },
      (_, i) => ({ seqNum: last + 1 + i, opType: "PUT", key: `after-reopen-${i}`, value: "z".repeat(200) }),
    );
    records.push(...more);
    return firstProblem(
      cur === last ? null : `currentSeqNum after reopen is ${cur}, expected ${last}`,
      seq === last + 60 ? null : `the 60th append after reopen got seq ${seq}, expected ${last + 60}`,
      extra.length > 0 && extra.every((n) => nameSeq(n) > last)
        ? null
        : `new segments ${extra.join(", ") || "none"} do not continue after seq ${last}`,
      compareRecords(await wal.replay({ afterSeq: last - 5 }), records.filter((r) => r.seqNum > last - 5)),
    );
  });
  await wal.close();

  await checker.check(
    "truncate at a segment boundary deletes whole segments and leaves the rest byte-identical",
    async () => {
      const segs = segmentNames(dir);
      const k = Math.floor(segs.length / 3);
      const upTo = nameSeq(segs[k]) - 1;
      const before = snapshot(dir);
      const w = await WriteAheadLog.open(dir, { maxFileSize: MAX });
      try {
        await w.truncate(upTo);
        const after = segmentNames(dir);
        return firstProblem(
          after.join() === segs.slice(k).join()
            ? null
            : `segments left: ${after.length}, expected the ${segs.length - k} from ${segs[k]}`,
          diffSnapshots(before, snapshot(dir), (n) => !n.endsWith(".wal") || nameSeq(n) <= upTo),
          compareRecords(await w.replay(), records.filter((r) => r.seqNum > upTo)),
        );
      } finally {
        await w.close();
      }
    },
  );

  await checker.check(
    "truncate inside a segment replaces only that segment; later ones stay byte-identical",
    async () => {
      const segs = segmentNames(dir);
      // A unit boundary in the middle of the first segment past the middle that holds at least three units.
      const unitEnds = (name: string) =>
        parseSegment(path.join(dir, name)).records.filter((r) => r.kind !== KIND.data || (r.flags & FLAG.batch) === 0)
          .map((r) => r.seq);
      let k = Math.floor(segs.length / 2);
      while (k < segs.length - 1 && unitEnds(segs[k]).length < 3) k++;
      const ends = unitEnds(segs[k]);
      if (ends.length < 3) return "no segment with three units to cut between";
      const upTo = ends[1];
      const before = snapshot(dir);
      const w = await WriteAheadLog.open(dir, { maxFileSize: MAX });
      try {
        await w.truncate(upTo);
        const after = segmentNames(dir);
        const expected = [String(upTo + 1).padStart(20, "0") + ".wal", ...segs.slice(k + 1)];
        return firstProblem(
          after.join() === expected.join()
            ? null
            : `segments ${after.slice(0, 3).join(", ")}..., expected ${expected.slice(0, 3).join(", ")}...`,
          diffSnapshots(before, snapshot(dir), (n) => !n.endsWith(".wal") || nameSeq(n) <= upTo + 1),
          compareRecords(await w.replay(), records.filter((r) => r.seqNum > upTo)),
          fs.readdirSync(dir).some((n) => n.endsWith(".tmp") || n === "TRUNCATE") ? "a temporary file was left" : null,
        );
      } finally {
        await w.close();
      }
    },
  );
});
