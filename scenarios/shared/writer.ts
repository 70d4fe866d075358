/**
 * The child writer of the crash-resume scenario: opens the log, resumes the workload plan where the log ends,
 * and prints one line per event on stdout:
 *
 * - `READY <seq>`   the log is open and ends at `<seq>`
 * - `ACK <seq>`     an append, batch (its COMMIT seq) or checkpoint resolved: in sync mode, it is durable
 * - `STOPPED <seq>` SIGINT (or the stop file) ended the run; the log was closed and ends durably at `<seq>`
 * - `DONE <seq>`    the plan is finished
 *
 * Usage: `writer.ts --dir LOG --units N [--stop-file PATH]`. The stop file is how a parent stops it where no
 * SIGINT can be sent (Windows); it is checked between steps, like the SIGINT flag.
 *
 * @module
 */

import * as fs from "node:fs";
import process from "node:process";
import { WriteAheadLog } from "../../mod.ts";
import { makePlan, resumePoint, runPlan } from "./workload.ts";

/** Writes a line straight to fd 1: nothing is left in a buffer when the process is killed or exits. */
function say(line: string): void {
  const bytes = new TextEncoder().encode(line + "\n");
  let done = 0;
  while (done < bytes.length) {
    try {
      done += fs.writeSync(1, bytes, done, bytes.length - done);
    } catch (e) {
      // A non-blocking pipe that is momentarily full: try again rather than lose an acknowledgement line.
      if ((e as { code?: string }).code !== "EAGAIN") throw e;
    }
  }
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const dir = option("--dir");
const units = Number(option("--units"));
const stopFile = option("--stop-file");
if (dir === undefined || !Number.isSafeInteger(units) || units <= 0) {
  console.error("usage: writer.ts --dir LOG --units N [--stop-file PATH]");
  process.exit(2);
}

let stop = false;
process.on("SIGINT", () => {
  stop = true;
});

const plan = makePlan(units);
const wal = await WriteAheadLog.open(dir, { syncMode: "sync" });
const start = resumePoint(plan, wal.currentSeqNum());
if (typeof start === "string") {
  console.error(`writer: cannot resume: ${start}`);
  process.exit(3);
}
say(`READY ${wal.currentSeqNum()}`);
const next = await runPlan(wal, plan, start, {
  acknowledged: (seq) => say(`ACK ${seq}`),
  shouldStop: () => stop || (stopFile !== undefined && fs.existsSync(stopFile)),
});
const last = wal.currentSeqNum();
await wal.close();
say(next === plan.steps.length ? `DONE ${last}` : `STOPPED ${last}`);
process.exit(0);
