/**
 * The table and the met/missed targets of the server-shaped workloads (`server.ts`).
 *
 * @module
 */

import type { ServerResult, ServerRow } from "./server.ts";

/** One target of the write path, evaluated on one runtime's rows. */
export interface ServerTarget {
  name: string;
  met: boolean | null;
  figures: string;
}

function f(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function row(rows: readonly ServerRow[], id: string): ServerRow | undefined {
  const r = rows.find((x) => x.id === id);
  return r === undefined || r.unavailable !== undefined ? undefined : r;
}

/** The targets: server-shaped throughput against lmdb and the raw loop, loop delay, timers, single producer. */
export function serverTargets(result: ServerResult): ServerTarget[] {
  const rows = result.rows;
  const out: ServerTarget[] = [];
  const ratio = (name: string, a: string, b: string, min: number) => {
    const x = row(rows, a);
    const y = row(rows, b);
    if (x === undefined || y === undefined) return out.push({ name, met: null, figures: "not measured" });
    const r = x.opsPerSec / y.opsPerSec;
    out.push({ name, met: r >= min, figures: `${f(x.opsPerSec)}/s vs ${f(y.opsPerSec)}/s = ${r.toFixed(2)} x` });
  };
  ratio("server-shaped 256, local: >= 4 x lmdb durable puts", "wal.auto.server.256.local", "lmdb.server.256.local", 4);
  ratio("server-shaped 256, local: >= 20 x raw write+fdatasync loop", "wal.auto.server.256.local", "raw.local", 20);
  ratio("server-shaped 256, slow disk: >= 20 x raw loop on it", "wal.auto.server.256.slow", "raw.slow", 20);
  for (const disk of ["local", "slow"]) {
    const r = row(rows, `wal.auto.server.256.${disk}`);
    out.push({
      name: `server-shaped 256, ${disk} disk: event-loop delay p99 <= 2 ms`,
      met: r === undefined ? null : r.delayP99 <= 2,
      figures: r === undefined ? "not measured" : `p99 ${r.delayP99.toFixed(2)} ms (max ${r.delayMax.toFixed(1)} ms)`,
    });
  }
  for (const disk of ["local", "slow"]) {
    const r = row(rows, `wal.auto.single.${disk}`);
    out.push({
      name: `tight await loop, ${disk} disk: a 1 ms timer fires at least every 20 ms`,
      met: r === undefined ? null : r.delayMax + 1 <= 20,
      figures: r === undefined ? "not measured" : `largest gap ${(r.delayMax + 1).toFixed(1)} ms`,
    });
  }
  ratio("1 producer awaiting each, local: >= 0.9 x the inline path", "wal.auto.single.local", "wal.inline.single.local", 0.9);
  return out;
}

/** A plain-text table of every row and the targets, for one runtime. */
export function serverTable(result: ServerResult): string {
  const lines: string[] = [];
  lines.push(`== server-shaped write path: ${result.runtime} ${result.version} (module ${result.module}, slow disk = +${result.slowMs} ms per fdatasync)`);
  lines.push(
    `${"workload".padEnd(84)} ${"ops/s".padStart(10)} ${"per fsync".padStart(9)}  loop delay p50 / p99 / max (ms)`,
  );
  for (const r of result.rows) {
    if (r.unavailable !== undefined) {
      lines.push(`${r.label.padEnd(84)} ${"n/a".padStart(10)}  (${r.unavailable})`);
      continue;
    }
    const per = r.perFsync === undefined ? "" : r.perFsync.toFixed(1);
    const delay = r.id.startsWith("raw.")
      ? "(blocks the loop throughout)"
      : `${r.delayP50.toFixed(2)} / ${r.delayP99.toFixed(2)} / ${r.delayMax.toFixed(1)}`;
    lines.push(`${r.label.padEnd(84)} ${f(r.opsPerSec).padStart(10)} ${per.padStart(9)}  ${delay}`);
  }
  lines.push("targets:");
  for (const t of serverTargets(result)) {
    const mark = t.met === null ? "n/a   " : t.met ? "met   " : "MISSED";
    lines.push(`  ${mark} ${t.name}: ${t.figures}`);
  }
  return lines.join("\n");
}
