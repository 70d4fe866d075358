// Crash safety, enumerated: a workload runs once on the crash-recording file system, then the disk is rebuilt as a
// power cut at every point of its history could leave it (unsynced bytes lost, kept or torn at many bytes,
// sometimes zero-filled, or with pages lost out of order; each directory change not yet fsynced applied or not)
// and the log is opened on each, in strict mode: what a crash leaves must never be refused as corruption.
// WAL_CRASH_SEED picks the random part of the variants; the count of states checked is printed.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { CrashFileSystem, seededRandom } from "../src/io/crash_fs.ts";
import type { CrashChoice, CrashState } from "../src/io/crash_fs.ts";

const DIR = "/wal";
const MAX_FILE_SIZE = 4096;
/** Small pages, so that one group write spans several and can reach the disk in part, out of order. */
const PAGE_SIZE = 64;
const SEED = Number(process.env.WAL_CRASH_SEED ?? 20240607);

/** A record as written, by seq; COMMIT and CHECKPOINT records included. */
interface Written {
  seq: number;
  opType: string;
  key: string;
  value: string | Uint8Array;
  /** For batch members: the COMMIT's seq. */
  commit?: number;
}

interface Truncation {
  upTo: number;
  /** History length before and after the truncate call. */
  from: number;
  to: number;
  /** The log's last seq when the truncate ran. */
  lastSeq: number;
}

interface Workload {
  fs: CrashFileSystem;
  written: Map<number, Written>;
  /** seq -> history length when its promise resolved (batch members share the COMMIT's). */
  ackedAt: Map<number, number>;
  truncations: Truncation[];
}

function makeValue(random: () => number, i: number): string | Uint8Array {
  const size = Math.floor(random() * 300);
  if (i % 5 === 3) return Uint8Array.from({ length: size }, (_, j) => (j * 31 + i) & 0xff);
  if (i % 7 === 4) return "é€😀".repeat(Math.ceil(size / 9));
  return "v".repeat(size) + i;
}

/**
 * "batch" mode: appends resolve before their fdatasync, so an append counts as acknowledged (durable) only once a
 * later batch, checkpoint or `sync()` resolved. Several groups are then unsynced at once, and their pages can
 * reach the disk in any order: records of a later group may survive while an earlier one is lost.
 */
async function runWorkload(seed: number, syncMode: "sync" | "batch" = "sync", rounds = 20): Promise<Workload> {
  const fs = new CrashFileSystem({ seed, pageSize: PAGE_SIZE });
  const random = seededRandom(seed);
  const written = new Map<number, Written>();
  const ackedAt = new Map<number, number>();
  const truncations: Truncation[] = [];
  const wal = await WriteAheadLog.open(DIR, { fs, maxFileSize: MAX_FILE_SIZE, syncMode, batchSyncCount: 6 });
  const durableUpTo = (seq: number) => {
    for (let s = 1; s <= seq; s++) if (!ackedAt.has(s)) ackedAt.set(s, fs.history.length);
  };
  // The reaction runs a little after the resolve, so this may note the ack a few events late: it only ever
  // makes the check start later, never demands a record that was not yet acknowledged.
  const ack = (p: Promise<number>, seqs: number[]) =>
    p.then((seq) => {
      assert.equal(seq, seqs[seqs.length - 1]);
      if (syncMode === "sync") for (const s of seqs) ackedAt.set(s, fs.history.length);
      else if (seqs.length > 1 || written.get(seq)?.opType === "CHECKPOINT") durableUpTo(seq); // fdatasync'ed
      return seq;
    });
  let n = 0;
  const append = () => {
    const value = makeValue(random, n);
    const key = `k${n++}`;
    const opType = n % 4 === 0 ? "DELETE" : "PUT";
    const p = wal.append(opType, key, value);
    const seq = wal.currentSeqNum();
    written.set(seq, { seq, opType, key, value });
    return ack(p, [seq]);
  };
  const batch = (size: number) => {
    const ops: [string, string, string | Uint8Array][] = [];
    for (let i = 0; i < size; i++) ops.push(["PUT", `b${n++}`, makeValue(random, n)]);
    const p = wal.appendBatch(ops);
    const commit = wal.currentSeqNum();
    const seqs: number[] = [];
    ops.forEach(([opType, key, value], i) => {
      const seq = commit - size + i;
      written.set(seq, { seq, opType, key, value, commit });
      seqs.push(seq);
    });
    written.set(commit, { seq: commit, opType: "COMMIT", key: "", value: "" });
    seqs.push(commit);
    return ack(p, seqs);
  };
  const checkpoint = () => {
    const p = wal.checkpoint();
    const seq = wal.currentSeqNum();
    written.set(seq, { seq, opType: "CHECKPOINT", key: "", value: "" });
    return ack(p, [seq]);
  };
  const truncate = async (candidate: number) => {
    let upTo = candidate;
    while (written.get(upTo)?.commit !== undefined) upTo--; // never inside a batch: truncate is by seq
    const from = fs.history.length;
    const lastSeq = wal.currentSeqNum();
    await wal.truncate(upTo);
    truncations.push({ upTo, from, to: fs.history.length, lastSeq });
  };
  const segments = () =>
    fs.list(DIR).filter((name) => name.endsWith(".wal")).sort().map((name) => Number(name.slice(0, 20)));

  for (let round = 0; round < rounds; round++) {
    await append();
    await append();
    // Concurrent: queued without waiting, so they share one write and one fdatasync.
    await Promise.all([append(), batch(2), append(), append()]);
    await batch(1 + (round % 4));
    if (round % 3 === 1) await checkpoint();
    if (round === 6) {
      // The straddling segment is an older one: its kept part is copied into a new segment.
      const segs = segments();
      assert.ok(segs.length >= 3, "the workload should have rotated by now");
      await truncate(segs[1] + 2);
    }
    if (round === 11) await truncate(wal.currentSeqNum() - 4); // straddles the active segment
    if (round === 15) await truncate(segments().at(-1)! - 1); // exactly at a segment boundary
    if (syncMode === "batch" && round % 4 === 3) {
      const last = wal.currentSeqNum();
      await wal.sync();
      durableUpTo(last);
    }
  }
  await wal.close();
  return { fs, written, ackedAt, truncations };
}

/** The seqs the log may start at after a crash at `point`: every truncate is either done or not (if in flight). */
function allowedStarts(w: Workload, point: number): { starts: number[]; inTruncate: Truncation | null } {
  let start = 1;
  for (const t of w.truncations) {
    if (point >= t.to) start = t.upTo + 1;
    else if (point > t.from) return { starts: [start, t.upTo + 1], inTruncate: t };
  }
  return { starts: [start], inTruncate: null };
}

async function checkCrashState(
  w: Workload,
  disk: CrashFileSystem,
  point: number,
  where: string,
  reopen: boolean,
): Promise<void> {
  // Strict: a crash's damage is repaired in every mode; strict refuses only what no crash can leave.
  const wal = await WriteAheadLog.open(DIR, { fs: disk, maxFileSize: MAX_FILE_SIZE, recovery: "strict" }).catch((e) => {
    throw new Error(`${where}: strict open refused what a crash left: ${e}`);
  });
  // The log's first seq: from its first stored record (COMMIT and CHECKPOINT included), else where numbering resumes.
  let start = wal.currentSeqNum() + 1;
  for await (const r of wal.iterate()) {
    start = r.seqNum;
    break;
  }
  const last = wal.currentSeqNum();
  const { starts, inTruncate } = allowedStarts(w, point);
  assert.ok(starts.includes(start), `${where}: log starts at seq ${start}, allowed ${starts.join(" or ")}`);
  let acked = 0;
  for (const [seq, at] of w.ackedAt) if (at <= point && seq > acked) acked = seq;
  assert.ok(last >= acked, `${where}: acknowledged seq ${acked} lost (log ends at ${last})`);
  if (inTruncate !== null) assert.equal(last, inTruncate.lastSeq, `${where}: a crash mid-truncate changed the end`);
  assert.ok(last <= w.written.size, `${where}: the log ends at seq ${last}, past anything written`);
  // Replay must be exactly the committed data records written with seqs start..last: a missing, altered, extra
  // or reordered record, or a member without its COMMIT (a half batch), makes the lists differ.
  const want: WalRecord[] = [];
  for (let s = start; s <= last; s++) {
    const r = w.written.get(s)!;
    if (r.opType === "COMMIT" || r.opType === "CHECKPOINT") continue;
    if (r.commit !== undefined && r.commit > last) continue;
    want.push({ seqNum: r.seq, opType: r.opType, key: r.key, value: r.value });
  }
  const replayed = await wal.replay();
  if (replayed.length !== want.length) {
    assert.fail(`${where}: replay has ${replayed.length} records, expected ${want.length} (seqs ${start}..${last})`);
  }
  assert.deepEqual(replayed, want, `${where}: replay differs from what was written`);
  // A torn batch must not be stored either: the log's last unit is complete, so its last seq is no member.
  const tail = w.written.get(last);
  assert.ok(last < start || tail?.commit === undefined, `${where}: the log ends inside a batch (seq ${last})`);

  const seq = await wal.append("PUT", "after-crash", where);
  assert.equal(seq, last + 1, `${where}: the append after the crash got seq ${seq}`);
  const appended = await wal.replay({ afterSeq: last });
  assert.deepEqual(
    appended,
    [{ seqNum: seq, opType: "PUT", key: "after-crash", value: where }],
    `${where}: append not replayable`,
  );
  await wal.close();
  if (reopen) {
    const again = await WriteAheadLog.open(DIR, { fs: disk, maxFileSize: MAX_FILE_SIZE, recovery: "strict" });
    assert.ok(again.recovery.clean, `${where}: a clean close left something to repair`);
    assert.equal(again.currentSeqNum(), seq, `${where}: reopen lost the append`);
    await again.close();
  }
}

/** Offsets in 1..units-1 to tear a file's unsynced part at: every one for short parts, else ends plus a sample. */
function tearOffsets(units: number, random: () => number): number[] {
  if (units <= 80) return Array.from({ length: Math.max(0, units - 1) }, (_, i) => i + 1);
  const out = new Set<number>();
  for (let i = 1; i <= 8; i++) {
    out.add(i);
    out.add(units - i);
  }
  for (const boundary of [23, 24, 25, 32, 33]) if (boundary < units) out.add(boundary); // around a record header
  while (out.size < 80) out.add(1 + Math.floor(random() * (units - 1)));
  return [...out];
}

/** The variants of one crash point: lost/kept extremes under each directory outcome, tears, zero tails, random. */
function* variants(state: CrashState, random: () => number): Generator<CrashChoice> {
  const lost = state.files.map(() => 0);
  const kept = state.files.map((f) => f.units);
  const m = state.dirOps.length;
  const dirSets: boolean[][] = [];
  if (m <= 3) {
    for (let mask = 0; mask < 1 << m; mask++) dirSets.push(state.dirOps.map((_, i) => (mask & (1 << i)) !== 0));
  } else {
    dirSets.push(state.dirOps.map(() => false), state.dirOps.map(() => true));
    for (let i = 0; i < m; i++) {
      dirSets.push(state.dirOps.map((_, j) => j === i), state.dirOps.map((_, j) => j !== i));
    }
  }
  for (const applied of dirSets) {
    yield { keep: lost, applied };
    yield { keep: kept, applied };
  }
  const someApplied = () => dirSets[Math.floor(random() * dirSets.length)];
  for (let i = 0; i < state.files.length; i++) {
    const units = state.files[i].units;
    for (const [n, cut] of tearOffsets(units, random).entries()) {
      const keep = state.files.map((g, j) => j === i ? cut : random() < 0.5 ? 0 : g.units);
      yield { keep, applied: someApplied() };
      // The size reached the disk but the torn bytes did not: a zero-filled tail (for every third offset).
      if (n % 3 === 0) {
        yield {
          keep,
          zeros: state.files.map((_, j) => j === i ? units - cut : 0),
          applied: someApplied(),
        };
      }
    }
  }
  // Pages lost out of order: the whole unsynced part kept but one page (each, up to 6), or only the last page kept.
  for (let i = 0; i < state.files.length; i++) {
    const pages = state.files[i].pages;
    if (pages < 2) continue;
    const single = pages <= 6 ? Array.from({ length: pages }, (_, p) => p) : [0, 1, pages - 2, ...[0, 1, 2].map(() => 2 + Math.floor(random() * (pages - 4)))];
    for (const p of single) yield { keep: kept, lost: state.files.map((_, j) => j === i ? [p] : []), applied: someApplied() };
    yield { keep: kept, lost: state.files.map((_, j) => j === i ? Array.from({ length: pages - 1 }, (_, p) => p) : []), applied: someApplied() };
  }
  for (let i = 0; i < 4; i++) yield state.randomChoice(random);
}

let shared: Promise<Workload> | undefined;
const workload = () => shared ??= runWorkload(SEED);

test("every crash point of a mixed workload recovers every acknowledged record and nothing else", async () => {
  const w = await workload();
  const random = seededRandom(SEED ^ 0x5eed);
  let states = 0;
  let points = 0;
  for (let point = 0; point <= w.fs.history.length; point++) {
    const state = w.fs.crashState(point);
    const seen = new Set<string>();
    for (const choice of variants(state, random)) {
      const key = state.key(choice);
      if (seen.has(key)) continue; // the same disk again: checking it twice proves nothing
      seen.add(key);
      const where = `crash point ${point}/${w.fs.history.length} variant ${seen.size} (seed ${SEED})`;
      await checkCrashState(w, state.materialize(choice), point, where, states % 8 === 0);
      states++;
    }
    points++;
  }
  console.log(
    `crash_test: ${states} crash states checked over ${points} crash points (${w.written.size} records written, seed ${SEED})`,
  );
  assert.ok(states >= 10_000, `only ${states} crash states`);
});

test("a second crash while open repairs the first one leaves the same guarantees", async () => {
  const w = await workload();
  const random = seededRandom(SEED ^ 0x2c2c);
  let states = 0;
  let repairs = 0;
  for (let point = 0; point <= w.fs.history.length; point++) {
    const first = w.fs.crashState(point).materialize(w.fs.crashState(point).randomChoice(random));
    const wal = await WriteAheadLog.open(DIR, { fs: first, maxFileSize: MAX_FILE_SIZE });
    const end = first.history.length; // the events of the repair (and of taking the lock)
    const repaired = !wal.recovery.clean;
    await wal.close();
    if (!repaired) continue;
    repairs++;
    // A crash at `end` is the repaired log, which the test above covers; every earlier point is mid-repair.
    for (let p = 0; p < end; p++) {
      const state = first.crashState(p);
      const seen = new Set<string>();
      const lost = { applied: state.dirOps.map(() => false) };
      const kept = { keep: state.files.map((f) => f.units), applied: state.dirOps.map(() => true) };
      for (const choice of [lost, kept, state.randomChoice(random)]) {
        const key = state.key(choice);
        if (seen.has(key)) continue;
        seen.add(key);
        const where = `crash point ${point}, then ${p}/${end} into the repair, variant ${seen.size} (seed ${SEED})`;
        await checkCrashState(w, state.materialize(choice), point, where, false);
        states++;
      }
    }
  }
  console.log(`crash_test: ${states} crash states checked inside ${repairs} repairs (seed ${SEED})`);
  assert.ok(repairs >= 50 && states >= 500, `too few repairs (${repairs}) or states (${states}) to mean anything`);
});

test("batch mode: unsynced groups whose pages reach the disk out of order are crash damage, never refused", async () => {
  const w = await runWorkload(SEED + 1, "batch", 20);
  const random = seededRandom(SEED ^ 0xbac4);
  let states = 0;
  let withLostPages = 0;
  for (let point = 0; point <= w.fs.history.length; point++) {
    const state = w.fs.crashState(point);
    const seen = new Set<string>();
    const kept = state.files.map((f) => f.units);
    const choices: CrashChoice[] = [{ keep: kept, applied: state.dirOps.map(() => true) }];
    for (let i = 0; i < state.files.length; i++) {
      const pages = state.files[i].pages;
      for (let n = 0; n < Math.min(pages, 8); n++) {
        const lost = [Math.floor(random() * pages)];
        if (random() < 0.5) lost.push(Math.floor(random() * pages));
        choices.push({ keep: kept, lost: state.files.map((_, j) => j === i ? lost : []), applied: state.dirOps.map(() => true) });
      }
    }
    for (let i = 0; i < 3; i++) choices.push(state.randomChoice(random));
    for (const choice of choices) {
      const key = state.key(choice);
      if (seen.has(key)) continue;
      seen.add(key);
      if (choice.lost?.some((l) => l !== undefined && l.length > 0)) withLostPages++;
      const where = `batch mode: crash point ${point}/${w.fs.history.length} variant ${seen.size} (seed ${SEED + 1})`;
      await checkCrashState(w, state.materialize(choice), point, where, states % 8 === 0);
      states++;
    }
  }
  console.log(`crash_test: ${states} crash states checked in batch mode, ${withLostPages} with pages lost out of order`);
  assert.ok(withLostPages >= 500, `only ${withLostPages} states lost pages out of order`);
});

// truncateAfter: the same enumeration over a workload that cuts the log's tail several times (inside the active
// segment, into an older one, inside a batch, at a segment boundary) and re-uses the removed seqs. The model keeps
// one version of the log per cut ("epoch"); a crash inside a cut must leave exactly the log before it or after it,
// and a crash anywhere else the epoch's records up to some seq at or after the last acknowledged one, never a
// removed record where a re-used seq is expected.

interface Epoch {
  /** The log of this epoch: its records by seq, with the history length when each was issued and acknowledged. */
  records: Map<number, Written & { issuedAt: number }>;
  ackedAt: Map<number, number>;
  /** The cut that began this epoch (none for the first). */
  cut: { keep: number; from: number; to: number; lastSeq: number } | null;
}

interface CutWorkload {
  fs: CrashFileSystem;
  epochs: Epoch[];
}

async function runCutWorkload(seed: number, rounds = 14): Promise<CutWorkload> {
  const fs = new CrashFileSystem({ seed, pageSize: PAGE_SIZE });
  const random = seededRandom(seed);
  const epochs: Epoch[] = [{ records: new Map(), ackedAt: new Map(), cut: null }];
  const wal = await WriteAheadLog.open(DIR, { fs, maxFileSize: MAX_FILE_SIZE });
  const epoch = () => epochs[epochs.length - 1];
  let n = 0;
  const note = (e: Epoch, records: Written[]) => {
    for (const r of records) e.records.set(r.seq, { ...r, issuedAt: fs.history.length });
  };
  const acked = (e: Epoch, seqs: number[]) => {
    for (const s of seqs) e.ackedAt.set(s, fs.history.length);
  };
  const append = async () => {
    const value = makeValue(random, n);
    const key = `k${n++}`;
    const e = epoch();
    const issuedAt = fs.history.length;
    const p = wal.append("PUT", key, value);
    const seq = wal.currentSeqNum();
    e.records.set(seq, { seq, opType: "PUT", key, value, issuedAt });
    assert.equal(await p, seq);
    acked(e, [seq]);
  };
  const batch = async (size: number) => {
    const ops: [string, string, string | Uint8Array][] = [];
    for (let i = 0; i < size; i++) ops.push(["PUT", `b${n++}`, makeValue(random, n)]);
    const e = epoch();
    const p = wal.appendBatch(ops);
    const commit = wal.currentSeqNum();
    const written: Written[] = ops.map(([opType, key, value], i) => ({ seq: commit - size + i, opType, key, value, commit }));
    written.push({ seq: commit, opType: "COMMIT", key: "", value: "" });
    note(e, written);
    assert.equal(await p, commit);
    acked(e, written.map((w) => w.seq));
  };
  const truncateAfter = async (cutAt: number) => {
    const before = epoch();
    const lastSeq = wal.currentSeqNum();
    let keep = Math.min(cutAt, lastSeq);
    const member = before.records.get(keep)?.commit;
    if (member !== undefined) while (before.records.get(keep)?.commit === member) keep--;
    const from = fs.history.length;
    // An append called in the same turn is held behind the cut and numbered after it.
    const p = wal.truncateAfter(cutAt);
    const value = makeValue(random, n);
    const key = `held${n++}`;
    const held = wal.append("PUT", key, value);
    await p;
    const to = fs.history.length;
    assert.equal(wal.currentSeqNum(), keep + 1, "the held append is numbered after the cut");
    if (keep === lastSeq) return; // nothing was cut
    const next: Epoch = { records: new Map(), ackedAt: new Map(), cut: { keep, from, to, lastSeq } };
    for (const [s, r] of before.records) if (s <= keep) next.records.set(s, r);
    for (const [s, at] of before.ackedAt) if (s <= keep) next.ackedAt.set(s, at);
    next.records.set(keep + 1, { seq: keep + 1, opType: "PUT", key, value, issuedAt: to });
    epochs.push(next);
    assert.equal(await held, keep + 1);
    acked(next, [keep + 1]);
  };
  const segments = () =>
    fs.list(DIR).filter((name) => name.endsWith(".wal")).sort().map((name) => Number(name.slice(0, 20)));

  for (let round = 0; round < rounds; round++) {
    await append();
    await Promise.all([append(), batch(2), append()]);
    await batch(1 + (round % 3));
    if (round % 3 === 1) {
      const e = epoch();
      const p = wal.checkpoint();
      const seq = wal.currentSeqNum();
      note(e, [{ seq, opType: "CHECKPOINT", key: "", value: "" }]);
      await p;
      acked(e, [seq]);
    }
    if (round === 3) await truncateAfter(wal.currentSeqNum() - 3); // inside the active segment
    if (round === 6) {
      const segs = segments();
      assert.ok(segs.length >= 3, "the workload should have rotated by now");
      await truncateAfter(segs[segs.length - 2] + 2); // into an older segment: the newer ones are deleted
    }
    if (round === 9) await truncateAfter(wal.currentSeqNum() - 2); // a member of the last batch: it goes whole
    if (round === 12) await truncateAfter(segments().at(-1)! - 1); // exactly at a segment boundary
  }
  await wal.close();
  assert.equal(epochs.length, 5, "every cut removed something");
  return { fs, epochs };
}

async function checkCutState(w: CutWorkload, disk: CrashFileSystem, point: number, where: string, reopen: boolean): Promise<void> {
  const wal = await WriteAheadLog.open(DIR, { fs: disk, maxFileSize: MAX_FILE_SIZE, recovery: "strict" }).catch((e) => {
    throw new Error(`${where}: strict open refused what a crash left: ${e}`);
  });
  const last = wal.currentSeqNum();
  let index = 0;
  while (index + 1 < w.epochs.length && w.epochs[index + 1].cut!.to <= point) index++;
  let e = w.epochs[index];
  const pending = index + 1 < w.epochs.length && w.epochs[index + 1].cut!.from < point ? w.epochs[index + 1] : null;
  if (pending !== null) {
    // Inside a cut: exactly the log before it, or exactly the log after it.
    const cut = pending.cut!;
    assert.ok(last === cut.lastSeq || last === cut.keep, `${where}: mid-cut log ends at ${last}, not ${cut.lastSeq} or ${cut.keep}`);
    if (last === cut.keep) e = pending;
  } else {
    let acked = 0;
    for (const [seq, at] of e.ackedAt) if (at <= point && seq > acked) acked = seq;
    let issued = e.cut?.keep ?? 0;
    for (const [seq, r] of e.records) if (r.issuedAt <= point && seq > issued) issued = seq;
    assert.ok(last >= acked, `${where}: acknowledged seq ${acked} lost (log ends at ${last})`);
    assert.ok(last <= issued, `${where}: the log ends at seq ${last}, past anything written since the last cut (${issued})`);
  }
  const want: WalRecord[] = [];
  for (let s = 1; s <= last; s++) {
    const r = e.records.get(s)!;
    if (r.opType === "COMMIT" || r.opType === "CHECKPOINT") continue;
    if (r.commit !== undefined && r.commit > last) continue;
    want.push({ seqNum: r.seq, opType: r.opType, key: r.key, value: r.value });
  }
  const replayed = await wal.replay();
  assert.deepEqual(replayed, want, `${where}: replay differs from the log of epoch ${e === pending ? index + 1 : index}`);
  assert.ok(e.records.get(last)?.commit === undefined || last === 0, `${where}: the log ends inside a batch (seq ${last})`);
  const seq = await wal.append("PUT", "after-crash", where);
  assert.equal(seq, last + 1, `${where}: the append after the crash got seq ${seq}`);
  await wal.close();
  if (reopen) {
    const again = await WriteAheadLog.open(DIR, { fs: disk, maxFileSize: MAX_FILE_SIZE, recovery: "strict" });
    assert.ok(again.recovery.clean, `${where}: a clean close left something to repair`);
    assert.equal(again.currentSeqNum(), seq, `${where}: reopen lost the append`);
    await again.close();
  }
}

let sharedCuts: Promise<CutWorkload> | undefined;
const cutWorkload = () => sharedCuts ??= runCutWorkload(SEED + 7);

test("truncateAfter: every crash point leaves the log as before or after each cut, never an old record at a re-used seq", async () => {
  const w = await cutWorkload();
  const random = seededRandom(SEED ^ 0xc07);
  let states = 0;
  let inCuts = 0;
  for (let point = 0; point <= w.fs.history.length; point++) {
    const state = w.fs.crashState(point);
    const inCut = w.epochs.some((e) => e.cut !== null && e.cut.from < point && point < e.cut.to);
    const seen = new Set<string>();
    for (const choice of variants(state, random)) {
      const key = state.key(choice);
      if (seen.has(key)) continue;
      seen.add(key);
      const where = `truncateAfter: crash point ${point}/${w.fs.history.length} variant ${seen.size} (seed ${SEED + 7})`;
      await checkCutState(w, state.materialize(choice), point, where, states % 8 === 0);
      states++;
      if (inCut) inCuts++;
    }
  }
  console.log(`crash_test: ${states} crash states checked around truncateAfter, ${inCuts} of them inside a cut (seed ${SEED + 7})`);
  assert.ok(inCuts >= 200, `only ${inCuts} states inside a cut`);
});

test("truncateAfter: a second crash while open finishes an interrupted cut leaves the same guarantees", async () => {
  const w = await cutWorkload();
  const random = seededRandom(SEED ^ 0xc08);
  let states = 0;
  let finishes = 0;
  for (const e of w.epochs) {
    if (e.cut === null) continue;
    for (let point = e.cut.from + 1; point < e.cut.to; point++) {
      const crashed = w.fs.crashState(point);
      for (const choice of [{ keep: crashed.files.map((f) => f.units), applied: crashed.dirOps.map(() => true) }, crashed.randomChoice(random)]) {
        const first = crashed.materialize(choice);
        const wal = await WriteAheadLog.open(DIR, { fs: first, maxFileSize: MAX_FILE_SIZE });
        const end = first.history.length;
        const finished = wal.recovery.actions.some((a) => a.action === "finished-truncate");
        await wal.close();
        if (!finished) continue;
        finishes++;
        for (let p = 0; p < end; p++) {
          const state = first.crashState(p);
          const seen = new Set<string>();
          const lost = { applied: state.dirOps.map(() => false) };
          const kept = { keep: state.files.map((f) => f.units), applied: state.dirOps.map(() => true) };
          for (const c of [lost, kept, state.randomChoice(random)]) {
            const key = state.key(c);
            if (seen.has(key)) continue;
            seen.add(key);
            const where = `truncateAfter: crash point ${point}, then ${p}/${end} into finishing the cut (seed ${SEED + 7})`;
            await checkCutState(w, state.materialize(c), point, where, false);
            states++;
          }
        }
      }
    }
  }
  console.log(`crash_test: ${states} crash states checked inside ${finishes} finishes of an interrupted cut`);
  assert.ok(finishes >= 10 && states >= 100, `too few finishes (${finishes}) or states (${states})`);
});
