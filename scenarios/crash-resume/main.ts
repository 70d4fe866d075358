/**
 * Scenario "crash-resume": an interrupted-then-resumed migration.
 *
 * Phase one starts the child writer (`../shared/writer.ts`) on a workload whose every payload follows from its
 * key, and interrupts it: once gracefully (SIGINT, or a stop file where there is no SIGINT), then `--kills`
 * times with SIGKILL at random moments. After each interruption the log must hold every acknowledged record and
 * be an exact prefix of the workload. Phase two resumes in this process: it opens the log, finds where the
 * workload stopped, finishes it, and verifies the whole log.
 *
 * Options: `--seed N` (the random moments; printed, so a run can be repeated), `--kills N` (default 5),
 * `--units N` (workload size), `--interrupt sigint|stopfile` (default: sigint, stopfile on Windows),
 * `--interrupt-only` (phase one only; combine with `--keep`), `--resume` (phase two only, on `--dir`).
 *
 * Deno needs `--allow-read --allow-write --allow-run` (to start and kill the writer, and to probe whether a
 * lock's owner is still alive when the log is opened after a kill).
 *
 * @module
 */

import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { WriteAheadLog } from "../../mod.ts";
import { seededRandom } from "../../src/io/crash_fs.ts";
import { spawnScript } from "../shared/child.ts";
import { runScenario } from "../shared/setup.ts";
import { collect, contiguousSeqs, firstProblem } from "../shared/verify.ts";
import { makePlan, matchesPlan, resumePoint, runPlan } from "../shared/workload.ts";
import type { Plan } from "../shared/workload.ts";

const WRITER = fileURLToPath(new URL("../shared/writer.ts", import.meta.url));
/** The writer touches only the log directory; --allow-run lets its open probe whether a killed owner is gone. */
const WRITER_DENO_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-run"];


function intOption(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${value}"`);
  return n;
}

interface RoundResult {
  /** Highest seq the writer acknowledged. */
  maxAck: number;
  acks: number;
  stopped: number | null;
  done: boolean;
  ready: number | null;
  code: number | null;
  signal: string | null;
}

/**
 * Runs the writer until it acknowledged `afterAcks` records, then interrupts it as `how` says. The SIGKILL lands
 * wherever the writer happens to be by the time the signal arrives: mid-write, mid-fsync or between steps.
 */
async function writerRound(
  log: string,
  units: number,
  afterAcks: number,
  how: "sigint" | "stopfile" | "sigkill",
  stopFile: string,
): Promise<RoundResult> {
  const result: RoundResult = { maxAck: 0, acks: 0, stopped: null, done: false, ready: null, code: null, signal: null };
  const args = ["--dir", log, "--units", String(units), "--stop-file", stopFile];
  let interrupted = false;
  const child = spawnScript(WRITER, args, WRITER_DENO_PERMISSIONS, (line) => {
    const [word, value] = line.split(" ");
    const n = Number(value);
    if (word === "READY") result.ready = n;
    else if (word === "ACK") {
      result.acks++;
      result.maxAck = Math.max(result.maxAck, n);
      if (!interrupted && result.acks >= afterAcks) {
        interrupted = true;
        if (how === "stopfile") fs.writeFileSync(stopFile, "stop\n");
        else child.kill(how === "sigint" ? "SIGINT" : "SIGKILL");
      }
    } else if (word === "STOPPED") result.stopped = n;
    else if (word === "DONE") result.done = true;
  });
  const exit = await child.exited;
  fs.rmSync(stopFile, { force: true });
  result.code = exit.code;
  result.signal = exit.signal;
  return result;
}

/** Opens the log, and checks it against the plan; returns its last seq and the problem, if any. */
async function inspect(
  log: string,
  plan: Plan,
): Promise<{ last: number; clean: boolean; actions: string; problem: string | null }> {
  const wal = await WriteAheadLog.open(log, { syncMode: "sync" });
  try {
    const raw = await collect(wal.iterate());
    const last = wal.currentSeqNum();
    const at = resumePoint(plan, last);
    return {
      last,
      clean: wal.recovery.clean,
      actions: wal.recovery.actions.map((a) => `${a.action} ${a.bytes} bytes`).join(", ") || "none",
      problem: firstProblem(
        contiguousSeqs(raw),
        raw.length === last ? null : `iterate yielded ${raw.length} records but currentSeqNum is ${last}`,
        matchesPlan(plan, raw),
        typeof at === "string" ? at : null,
      ),
    };
  } finally {
    await wal.close();
  }
}

await runScenario("crash-resume", {
  flags: {
    "--resume": "phase two only: finish and verify the log in --dir (left by --interrupt-only --keep)",
    "--interrupt-only": "phase one only: interrupt the writer, keep the log for --resume",
  },
  options: {
    "--seed": "seed of the random kill moments (default: random, printed)",
    "--kills": "SIGKILL rounds (default 5; run.sh takes it from WAL_SCENARIO_KILLS)",
    "--units": "workload size in units (default 1500)",
    "--interrupt": "sigint | stopfile: how the graceful stop is asked for (default: stopfile on Windows)",
  },
}, async ({ args, ws, checker }) => {
  const seed = intOption(args.options.get("--seed"), Math.floor(Math.random() * 1e9), "--seed");
  const kills = intOption(args.options.get("--kills"), 5, "--kills");
  const units = intOption(args.options.get("--units"), 1500, "--units");
  const interrupt = args.options.get("--interrupt") ?? (process.platform === "win32" ? "stopfile" : "sigint");
  if (interrupt !== "sigint" && interrupt !== "stopfile") throw new Error(`--interrupt must be sigint or stopfile`);
  const resumeOnly = args.flags.has("--resume");
  if (resumeOnly && args.dir === undefined) throw new Error("--resume needs --dir (the directory a kept run printed)");
  const log = path.join(ws.root, "log");
  const stopFile = path.join(ws.root, "STOP");
  const plan = makePlan(units);
  // The same seed gives the same kill moments.
  const rand = seededRandom(seed);
  console.log(`seed ${seed}, ${kills} kills, ${units} units = ${plan.total} records, log in ${log}`);
  // Each round is interrupted after a random number of acknowledgements; the bound keeps phase one well inside
  // the plan so that phase two always has work left to resume.
  const budget = Math.max(2, Math.floor(plan.steps.length / (2 * (kills + 1))));
  const pick = () => 1 + Math.floor(rand() * budget);

  if (!resumeOnly) {
    const graceful = await writerRound(log, units, pick(), interrupt, stopFile);
    await checker.check(
      `phase one: ${interrupt} stops the writer cleanly and it reports its last durable seq`,
      async () => {
        if (graceful.code !== 0) return `writer exited with code ${graceful.code}, signal ${graceful.signal}`;
        if (graceful.stopped === null) {
          return graceful.done ? "the writer finished before it was stopped" : "no STOPPED line";
        }
        const state = await inspect(log, plan);
        return firstProblem(
          state.problem,
          state.last === graceful.stopped ? null : `writer reported ${graceful.stopped}, the log ends at ${state.last}`,
          graceful.maxAck <= state.last ? null : `acknowledged ${graceful.maxAck} but the log ends at ${state.last}`,
          state.clean ? null : `a cleanly closed log needed recovery: ${state.actions}`,
        );
      },
    );
    for (let k = 1; k <= kills; k++) {
      const round = await writerRound(log, units, pick(), "sigkill", stopFile);
      await checker.check(
        `phase one: SIGKILL ${k}/${kills} loses no acknowledged record and leaves a prefix of the workload`,
        async () => {
          if (round.done) return "the writer finished before it was killed";
          if (
            round.signal !== "SIGKILL" && process.platform !== "win32"
          ) return `writer exited with code ${round.code}, not by SIGKILL`;
          const state = await inspect(log, plan);
          console.log(
            `  round ${k}: resumed at ${round.ready}, ${round.acks} acks up to ${round.maxAck}, log ends at ${state.last}, recovery: ${state.actions}`,
          );
          return firstProblem(
            state.problem,
            round.maxAck <= state.last ? null : `acknowledged ${round.maxAck} but the log ends at ${state.last}`,
          );
        },
      );
    }
  }

  if (args.flags.has("--interrupt-only")) return;

  let resumedAt = 0;
  await checker.check("phase two: resume finds where the workload stopped and finishes it", async () => {
    const wal = await WriteAheadLog.open(log, { syncMode: "sync" });
    try {
      resumedAt = wal.currentSeqNum();
      const start = resumePoint(plan, resumedAt);
      if (typeof start === "string") return start;
      if (!resumeOnly && start === 0) return "phase one left nothing to resume from";
      const end = await runPlan(wal, plan, start);
      console.log(
        `  resumed at seq ${resumedAt} (step ${start} of ${plan.steps.length}), finished at seq ${wal.currentSeqNum()}`,
      );
      return end === plan.steps.length ? null : `stopped at step ${end}`;
    } finally {
      await wal.close();
    }
  });

  const wal = await WriteAheadLog.open(log, { syncMode: "sync" });
  try {
    const raw = await collect(wal.iterate());
    const replayed = await wal.replay();
    await checker.check("verify: seqs are contiguous from 1", () => contiguousSeqs(raw));
    await checker.check(
      "verify: every record has its exact payload, in the workload's order",
      () => matchesPlan(plan, raw),
    );
    await checker.check("verify: no partial batch (every batch member is followed by its COMMIT)", () => {
      const members = new Set<number>();
      for (const s of plan.steps) {
        if (s.kind === "batch") { for (let q = s.firstSeq; q < s.commitSeq; q++) members.add(q); }
      }
      let open = 0;
      for (const r of raw) {
        if (members.has(r.seqNum)) open++;
        else if (r.opType === "COMMIT") open = 0;
        else if (open > 0) return `seq ${r.seqNum} follows ${open} batch member(s) that have no COMMIT`;
      }
      if (open !== 0) return `${open} batch member(s) at the end without a COMMIT`;
      return replayed.length === plan.dataRecords
        ? null
        : `replay returned ${replayed.length} records, the workload has ${plan.dataRecords}`;
    });
    await checker.check(`verify: the total is the ${plan.total} records the workload promised`, () => {
      return wal.currentSeqNum() === plan.total && raw.length === plan.total
        ? null
        : `currentSeqNum ${wal.currentSeqNum()}, ${raw.length} records`;
    });
  } finally {
    await wal.close();
  }
});
