/**
 * The crash-resume workload: a fixed plan of appends, concurrent appends, batches and checkpoints whose every
 * payload is a function of its key, so a log can be checked record by record against the plan and a run can be
 * resumed from whatever seq the log ends at.
 *
 * Because each standalone append is its own step, and a batch or a checkpoint is one step, a crash can only
 * leave the log at a step boundary: a resumed run therefore produces exactly the log an uninterrupted run
 * would have, seq for seq.
 *
 * @module
 */

import type { WriteAheadLog } from "../../mod.ts";
import { sameValue } from "./verify.ts";
import type { PlainRecord } from "./verify.ts";

/** One step of the plan: the writer awaits each step, except that steps of one `group` are issued together. */
export type Step =
  | { kind: "append"; seq: number; opType: string; key: string; group: number }
  | { kind: "batch"; firstSeq: number; commitSeq: number; ops: { opType: string; key: string }[] }
  | { kind: "checkpoint"; seq: number };

/** What the log must hold at one seq. */
export interface PlannedRecord {
  seqNum: number;
  /** "COMMIT" and "CHECKPOINT" for markers, as `iterate()` reports them. */
  opType: string;
  key: string;
  value: string | Uint8Array;
}

/** The whole plan. */
export interface Plan {
  steps: Step[];
  /** records[i] is the record with seq i + 1. */
  records: PlannedRecord[];
  /** The last seq of the finished workload: the total it promises. */
  total: number;
  /** How many records `replay()` returns for the finished workload. */
  dataRecords: number;
}

function hash(text: string): number {
  // FNV-1a: any stable spread of keys over payload shapes will do.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The value a key always carries: text for some keys, bytes for others, of a length the key decides. */
export function valueFor(opType: string, key: string): string | Uint8Array {
  if (opType === "DELETE") return "";
  const h = hash(key);
  const length = h % 97;
  if (h % 3 === 0) {
    const out = new Uint8Array(length);
    let x = h || 1;
    for (let i = 0; i < length; i++) {
      x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
      out[i] = x & 0xff;
    }
    return out;
  }
  return `${key}=`.padEnd(length + key.length + 1, String.fromCharCode(97 + (h % 26)));
}

/** Builds the plan of `units` units (one unit is an append, a group of concurrent appends, a batch or a checkpoint). */
export function makePlan(units: number): Plan {
  const steps: Step[] = [];
  const records: PlannedRecord[] = [];
  let seq = 1;
  let group = 0;
  const data = (opType: string, key: string) => {
    records.push({ seqNum: seq, opType, key, value: valueFor(opType, key) });
    return seq++;
  };
  for (let u = 0; u < units; u++) {
    const id = `u${String(u).padStart(5, "0")}`;
    const r = u % 10;
    if (r <= 3) {
      const opType = u % 13 === 0 ? "DELETE" : "PUT";
      steps.push({ kind: "append", seq: data(opType, id), opType, key: id, group: group++ });
    } else if (r <= 5) {
      const g = group++;
      for (let j = 0; j < 2 + (u % 5); j++) {
        const key = `${id}-c${j}`;
        steps.push({ kind: "append", seq: data("PUT", key), opType: "PUT", key, group: g });
      }
    } else if (r <= 8) {
      const ops: { opType: string; key: string }[] = [];
      const firstSeq = seq;
      for (let j = 0; j < 1 + (u % 6); j++) {
        const opType = j === 2 ? "DELETE" : "PUT";
        const key = `${id}-b${j}`;
        ops.push({ opType, key });
        data(opType, key);
      }
      records.push({ seqNum: seq, opType: "COMMIT", key: "", value: "" });
      steps.push({ kind: "batch", firstSeq, commitSeq: seq++, ops });
    } else {
      records.push({ seqNum: seq, opType: "CHECKPOINT", key: "", value: "" });
      steps.push({ kind: "checkpoint", seq: seq++ });
    }
  }
  const dataRecords = records.filter((r) => r.opType !== "COMMIT" && r.opType !== "CHECKPOINT").length;
  return { steps, records, total: seq - 1, dataRecords };
}

function firstSeqOf(step: Step): number {
  return step.kind === "batch" ? step.firstSeq : step.seq;
}

/**
 * The index of the step to run next when the log ends at `lastSeq`, or a reason why `lastSeq` cannot be where a
 * run of this plan stopped (inside a batch: the log kept part of one).
 */
export function resumePoint(plan: Plan, lastSeq: number): number | string {
  if (lastSeq > plan.total) return `the log ends at seq ${lastSeq}, past the plan's ${plan.total}`;
  let lo = 0;
  let hi = plan.steps.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (firstSeqOf(plan.steps[mid]) <= lastSeq) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0) {
    const prev = plan.steps[lo - 1];
    if (prev.kind === "batch" && prev.commitSeq !== lastSeq) {
      return `the log ends at seq ${lastSeq}, inside the batch ${prev.firstSeq}..${prev.commitSeq}`;
    }
  }
  return lo;
}

/** Hooks of {@link runPlan}. */
export interface RunHooks {
  /** Called with each seq once its append, batch or checkpoint resolved. */
  acknowledged?: (seq: number) => void;
  /** Polled between steps; true stops the run after the steps already issued resolved. */
  shouldStop?: () => boolean;
}

/**
 * Runs the plan from step `from` to the end (or until `shouldStop`). Yields to the event loop between steps,
 * because appends resolve in microtasks and a signal handler would otherwise never get a turn.
 *
 * @returns the index of the next step to run (the plan's length when it finished).
 */
export async function runPlan(wal: WriteAheadLog, plan: Plan, from: number, hooks: RunHooks = {}): Promise<number> {
  const ack = hooks.acknowledged ?? (() => {});
  let i = from;
  while (i < plan.steps.length) {
    if (hooks.shouldStop?.()) break;
    const step = plan.steps[i];
    if (step.kind === "append") {
      const pending: Promise<void>[] = [];
      for (; i < plan.steps.length; i++) {
        const s = plan.steps[i];
        if (s.kind !== "append" || s.group !== step.group) break;
        const expected = s.seq;
        pending.push(
          wal.append(s.opType, s.key, valueFor(s.opType, s.key)).then((seq) => {
            if (seq !== expected) throw new Error(`append of ${s.key} got seq ${seq}, the plan says ${expected}`);
            ack(seq);
          }),
        );
      }
      await Promise.all(pending);
    } else if (step.kind === "batch") {
      const seq = await wal.appendBatch(
        step.ops.map((op) => [op.opType, op.key, valueFor(op.opType, op.key)] as const),
      );
      if (seq !== step.commitSeq) throw new Error(`batch got COMMIT seq ${seq}, the plan says ${step.commitSeq}`);
      ack(seq);
      i++;
    } else {
      const seq = await wal.checkpoint();
      if (seq !== step.seq) throw new Error(`checkpoint got seq ${seq}, the plan says ${step.seq}`);
      ack(seq);
      i++;
    }
    if (i % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return i;
}

/** Null when `raw` (everything `iterate()` yields) is exactly the plan's first `raw.length` records. */
export function matchesPlan(plan: Plan, raw: readonly PlainRecord[]): string | null {
  for (let i = 0; i < raw.length; i++) {
    const got = raw[i];
    const want = plan.records[i];
    if (want === undefined) return `record ${got.seqNum} is past the plan's end (${plan.total})`;
    if (got.seqNum !== want.seqNum) return `position ${i} holds seq ${got.seqNum}, expected ${want.seqNum}`;
    if (got.opType !== want.opType || got.key !== want.key) {
      return `seq ${got.seqNum} is ${got.opType} "${got.key}", the plan says ${want.opType} "${want.key}"`;
    }
    if (!sameValue(got.value, want.value)) {
      return `seq ${got.seqNum} (${got.key}) has a payload that differs from the one its key gives`;
    }
  }
  return null;
}
