// Model-based test: random sequences of append, concurrent appends, appendBatch, checkpoint, truncate, read, reopen and
// power cuts (at the end of the history, or in the middle of un-awaited appends) run against the real log on the
// crash-simulating file system and against a plain array of what must be replayable. After every step the log
// must show exactly the model (iterate: every record including COMMIT and CHECKPOINT; replay: the data records),
// and numbering must continue where the model says. fast-check shrinks a failure to a short sequence and prints
// the seed; WAL_MODEL_SEED replays one, WAL_MODEL_RUNS sets how many sequences run (default 120).
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import fc from "fast-check";
import { WalInvalidArgumentError, WriteAheadLog } from "../mod.ts";
import type { WalOptions, WalRecord } from "../mod.ts";
import { CrashFileSystem, seededRandom } from "../src/io/crash_fs.ts";

const DIR = "/wal";
const RUNS = Number(process.env.WAL_MODEL_RUNS ?? 120);
const SEED = process.env.WAL_MODEL_SEED === undefined ? undefined : Number(process.env.WAL_MODEL_SEED);
const OPTIONS: WalOptions = { maxFileSize: 4096 };

type Value = string | Uint8Array;

/** What must be in the log: every record with its seq, COMMIT and CHECKPOINT included. */
interface Model {
  entries: WalRecord[];
  last: number;
  /** Every batch written, by its first member's seq and its COMMIT's (truncateAfter removes a batch whole). */
  batches?: { first: number; commit: number }[];
}

interface Real {
  fs: CrashFileSystem;
  wal: WriteAheadLog;
  random: () => number;
}

const isData = (r: WalRecord) => r.opType !== "COMMIT" && r.opType !== "CHECKPOINT";

async function collect(it: AsyncIterable<WalRecord>): Promise<WalRecord[]> {
  const out: WalRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

async function checkAgainst(model: Model, real: Real, where: string): Promise<void> {
  assert.equal(real.wal.currentSeqNum(), model.last, `${where}: currentSeqNum`);
  assert.deepEqual(await collect(real.wal.iterate()), model.entries, `${where}: iterate`);
  assert.deepEqual(await real.wal.replay(), model.entries.filter(isData), `${where}: replay`);
}

/** Opens the log on `fs` in strict mode: a crash (or a clean close) must leave nothing a crash cannot explain. */
async function reopen(real: Real, fs: CrashFileSystem): Promise<void> {
  real.fs = fs;
  real.wal = await WriteAheadLog.open(DIR, { ...OPTIONS, fs, recovery: "strict" });
}

class Append implements fc.AsyncCommand<Model, Real> {
  readonly key: string;
  readonly value: Value;
  constructor(key: string, value: Value) {
    this.key = key;
    this.value = value;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const seq = await real.wal.append("PUT", this.key, this.value);
    assert.equal(seq, model.last + 1, "append: seq");
    model.entries.push({ seqNum: seq, opType: "PUT", key: this.key, value: this.value });
    model.last = seq;
    await checkAgainst(model, real, "after append");
  }
  toString = () => `append(${this.key}, ${describe(this.value)})`;
}

/** Appends issued from separate callbacks, as a server issues them; seqs follow call order. */
class Concurrent implements fc.AsyncCommand<Model, Real> {
  readonly values: Value[];
  constructor(values: Value[]) {
    this.values = values;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const pending: Promise<number>[] = [];
    for (let i = 0; i < this.values.length; i++) {
      pending.push(real.wal.append("PUT", `c${i}`, this.values[i]));
      if (i % 3 === 2) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const seqs = await Promise.all(pending);
    assert.deepEqual(seqs, this.values.map((_, i) => model.last + 1 + i), "concurrent appends: seqs in call order");
    this.values.forEach((value, i) => model.entries.push({ seqNum: seqs[i], opType: "PUT", key: `c${i}`, value }));
    model.last += this.values.length;
    await checkAgainst(model, real, "after concurrent appends");
  }
  toString = () => `concurrent(${this.values.length})`;
}

class Batch implements fc.AsyncCommand<Model, Real> {
  readonly values: Value[];
  constructor(values: Value[]) {
    this.values = values;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const commit = await real.wal.appendBatch(this.values.map((v, i) => ["PUT", `b${i}`, v] as const));
    assert.equal(commit, model.last + this.values.length + 1, "batch: COMMIT seq");
    this.values.forEach((value, i) => model.entries.push({ seqNum: model.last + 1 + i, opType: "PUT", key: `b${i}`, value }));
    model.entries.push({ seqNum: commit, opType: "COMMIT", key: "", value: "" });
    (model.batches ??= []).push({ first: model.last + 1, commit });
    model.last = commit;
    await checkAgainst(model, real, "after batch");
  }
  toString = () => `batch(${this.values.length})`;
}

class Checkpoint implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const seq = await real.wal.checkpoint();
    assert.equal(seq, model.last + 1, "checkpoint: seq");
    model.entries.push({ seqNum: seq, opType: "CHECKPOINT", key: "", value: "" });
    model.last = seq;
    await checkAgainst(model, real, "after checkpoint");
  }
  toString = () => "checkpoint";
}

/** truncate(n) with n anywhere from 0 to one past the end, so batch members, COMMITs and segment starts all come up. */
class Truncate implements fc.AsyncCommand<Model, Real> {
  readonly fraction: number;
  constructor(fraction: number) {
    this.fraction = fraction;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const n = Math.floor(this.fraction * (model.last + 2));
    await real.wal.truncate(n);
    model.entries = model.entries.filter((r) => r.seqNum > n);
    await checkAgainst(model, real, `after truncate(${n})`);
  }
  toString = () => `truncate(${this.fraction.toFixed(3)})`;
}

/**
 * truncateAfter(n) with n anywhere from 0 to one past the end, and sometimes a power cut at a random point of its
 * own history: the log must then be exactly the model before the cut or the model after it.
 */
class TruncateAfter implements fc.AsyncCommand<Model, Real> {
  readonly fraction: number;
  readonly crash: { at: number; seed: number } | null;
  constructor(fraction: number, crash: { at: number; seed: number } | null) {
    this.fraction = fraction;
    this.crash = crash;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const n = Math.floor(this.fraction * (model.last + 2));
    const first = model.entries[0]?.seqNum ?? model.last + 1;
    if (n < first - 1) {
      await assert.rejects(real.wal.truncateAfter(n), WalInvalidArgumentError, `truncateAfter(${n}) below the first seq ${first}`);
      await checkAgainst(model, real, `after a refused truncateAfter(${n})`);
      return;
    }
    // The documented rule: a batch is kept only when its COMMIT is at or before n (its members left after a
    // truncate count from the log's first seq).
    let keep = Math.min(n, model.last);
    for (const b of model.batches ?? []) if (b.first <= keep && keep < b.commit) keep = Math.max(b.first, first) - 1;
    const before = { entries: model.entries, last: model.last, batches: model.batches ?? [] };
    const from = real.fs.history.length;
    await real.wal.truncateAfter(n);
    assert.equal(real.wal.currentSeqNum(), keep, `truncateAfter(${n}): currentSeqNum`);
    model.entries = model.entries.filter((r) => r.seqNum <= keep);
    model.last = keep;
    model.batches = (model.batches ?? []).filter((b) => b.commit <= keep);
    if (this.crash !== null) {
      const to = real.fs.history.length;
      const state = real.fs.crashState(from + Math.floor(this.crash.at * (to - from + 1)));
      await reopen(real, state.materialize(state.randomChoice(seededRandom(this.crash.seed))));
      if (real.wal.currentSeqNum() !== keep) {
        assert.equal(real.wal.currentSeqNum(), before.last, `truncateAfter(${n}) with a crash: neither before nor after`);
        model.entries = before.entries;
        model.last = before.last;
        model.batches = before.batches;
      }
    }
    await checkAgainst(model, real, `after truncateAfter(${n})${this.crash === null ? "" : " and a crash in it"}`);
  }
  toString = () => `truncateAfter(${this.fraction.toFixed(3)}${this.crash === null ? "" : `, crash ${this.crash.at.toFixed(3)}/${this.crash.seed}`})`;
}

/**
 * read(seq) of seqs anywhere from 0 to two past the end (the first and last of the log always among them): each
 * must be the model's record, COMMIT and CHECKPOINT included, or undefined where the model has none.
 */
class Read implements fc.AsyncCommand<Model, Real> {
  readonly fractions: number[];
  constructor(fractions: number[]) {
    this.fractions = fractions;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const bySeq = new Map(model.entries.map((r) => [r.seqNum, r]));
    const seqs = this.fractions.map((f) => Math.floor(f * (model.last + 3)));
    if (model.entries.length > 0) seqs.push(model.entries[0].seqNum, model.last);
    for (const seq of seqs) assert.deepEqual(await real.wal.read(seq), bySeq.get(seq), `read(${seq})`);
  }
  toString = () => `read(${this.fractions.map((f) => f.toFixed(3)).join(", ")})`;
}

class Reopen implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    await real.wal.close();
    await reopen(real, real.fs);
    assert.ok(real.wal.recovery.clean, `reopen after close acted: ${JSON.stringify(real.wal.recovery.actions)}`);
    await checkAgainst(model, real, "after reopen");
  }
  toString = () => "reopen";
}

/** A power cut once everything acknowledged was fdatasync'ed: the unsynced remainder may survive in any part. */
class Crash implements fc.AsyncCommand<Model, Real> {
  readonly seed: number;
  constructor(seed: number) {
    this.seed = seed;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const state = real.fs.crashState(real.fs.history.length);
    await reopen(real, state.materialize(state.randomChoice(seededRandom(this.seed))));
    await checkAgainst(model, real, "after a crash");
  }
  toString = () => `crash(${this.seed})`;
}

/**
 * A power cut in the middle of un-awaited appends and a batch: every record acknowledged before the cut must be
 * there; after them the log may hold any whole-unit prefix of what was written, and the model takes that on.
 */
class CrashMidway implements fc.AsyncCommand<Model, Real> {
  readonly values: Value[];
  readonly batchAt: number;
  readonly fraction: number;
  readonly seed: number;
  constructor(values: Value[], batchAt: number, fraction: number, seed: number) {
    this.values = values;
    this.batchAt = batchAt;
    this.fraction = fraction;
    this.seed = seed;
  }
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const fs = real.fs;
    const start = fs.history.length;
    const written: WalRecord[] = [];
    /** Per written record: the length of the history when its promise resolved (after the fact: never early). */
    const ackedAt: number[] = [];
    /** Indexes into `written` just past each complete unit. */
    const unitEnds = new Set<number>([0]);
    const pending: Promise<unknown>[] = [];
    let next = model.last + 1;
    for (let i = 0; i < this.values.length; i++) {
      if (i === this.batchAt) {
        const ops = [["PUT", "mb0", this.values[i]], ["PUT", "mb1", "x"]] as const;
        const from = written.length;
        ops.forEach(([opType, key, value]) => written.push({ seqNum: next++, opType, key, value }));
        written.push({ seqNum: next++, opType: "COMMIT", key: "", value: "" });
        unitEnds.add(written.length);
        pending.push(real.wal.appendBatch(ops).then(() => {
          for (let j = from; j < from + 3; j++) ackedAt[j] = fs.history.length;
        }));
      } else {
        const at = written.length;
        written.push({ seqNum: next++, opType: "PUT", key: `m${i}`, value: this.values[i] });
        unitEnds.add(written.length);
        pending.push(real.wal.append("PUT", `m${i}`, this.values[i]).then(() => {
          ackedAt[at] = fs.history.length;
        }));
      }
      if (i % 2 === 1) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await Promise.all(pending);
    const point = start + Math.floor(this.fraction * (fs.history.length - start + 1));
    const state = fs.crashState(Math.min(point, fs.history.length));
    await reopen(real, state.materialize(state.randomChoice(seededRandom(this.seed))));
    const found = await collect(real.wal.iterate());
    const old = found.slice(0, model.entries.length);
    assert.deepEqual(old, model.entries, "crash midway: what was durable before is intact");
    const kept = found.length - model.entries.length;
    assert.ok(unitEnds.has(kept), `crash midway: ${kept} new records is not a whole number of units`);
    assert.deepEqual(found.slice(model.entries.length), written.slice(0, kept), "crash midway: new records as written");
    for (let j = kept; j < written.length; j++) {
      assert.ok(ackedAt[j] > point, `crash midway: seq ${written[j].seqNum}, acknowledged before the cut, is lost`);
    }
    model.entries = found;
    const batchAt = written.findIndex((r) => r.key === "mb0");
    if (batchAt >= 0 && kept >= batchAt + 3) {
      (model.batches ??= []).push({ first: written[batchAt].seqNum, commit: written[batchAt + 2].seqNum });
    }
    model.last = kept > 0 ? written[kept - 1].seqNum : model.last;
    await checkAgainst(model, real, "after a crash midway");
  }
  toString = () => `crashMidway(${this.values.length}, batch@${this.batchAt}, ${this.fraction.toFixed(3)}, ${this.seed})`;
}

function describe(v: Value): string {
  return typeof v === "string" ? `"${v.length > 12 ? v.slice(0, 12) + "…" : v}"(${v.length})` : `bytes(${v.length})`;
}

/** Text of every kind, binary noise, and now and then a value larger than a segment. */
const value: fc.Arbitrary<Value> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 60 }) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 700 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4000, max: 9000 }).map((n) => new Uint8Array(n).fill(n & 0xff)) },
);

/** Uniform in [0, 1): fc.double favours 0 and 1, which would leave the middle of the log untested. */
const fraction = fc.integer({ min: 0, max: 9999 }).map((i) => i / 10000);

const commands = [
  fc.tuple(fc.string({ maxLength: 20 }), value).map(([k, v]) => new Append(k, v)),
  fc.array(value, { minLength: 2, maxLength: 12 }).map((vs) => new Concurrent(vs)),
  fc.array(value, { minLength: 1, maxLength: 5 }).map((vs) => new Batch(vs)),
  fc.constant(new Checkpoint()),
  fraction.map((f) => new Truncate(f)),
  fc.tuple(fraction, fc.option(fc.record({ at: fraction, seed: fc.nat() }), { freq: 2 })).map(([f, c]) => new TruncateAfter(f, c)),
  fc.array(fraction, { minLength: 1, maxLength: 8 }).map((fs) => new Read(fs)),
  fc.constant(new Reopen()),
  fc.nat().map((s) => new Crash(s)),
  fc.tuple(
    fc.array(value, { minLength: 2, maxLength: 10 }),
    fc.nat({ max: 12 }),
    fraction,
    fc.nat(),
  ).map(([vs, b, f, s]) => new CrashMidway(vs, b, f, s)),
];

test(`model: ${RUNS} random sequences of append/batch/checkpoint/truncate/truncateAfter/read/reopen/crash match a plain model`, async () => {
  let sequences = 0;
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: "max" }), async (cmds) => {
      sequences++;
      const fs = new CrashFileSystem({ seed: 1 });
      const real: Real = { fs, wal: await WriteAheadLog.open(DIR, { ...OPTIONS, fs }), random: seededRandom(1) };
      try {
        await fc.asyncModelRun(() => ({ model: { entries: [], last: 0 }, real }), cmds);
      } finally {
        await real.wal.close().catch(() => {});
      }
    }),
    { numRuns: RUNS, seed: SEED },
  );
  console.log(`model test: ${sequences} command sequences (shrinking included) on the crash-simulating file system`);
});
