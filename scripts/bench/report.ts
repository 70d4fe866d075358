/**
 * Turns the workers' rows into what people read: a text table per runtime, the issue's targets as ratios with
 * met/missed, a markdown summary, and a hand-drawn SVG chart.
 *
 * @module
 */

import { fmt, max, median, min } from "./common.ts";
import type { Row, RuntimeName } from "./common.ts";

/** Everything measured on one runtime. */
export interface RuntimeResult {
  /** The runtime. */
  runtime: RuntimeName;
  /** Its version. */
  version: string;
  /** Rows of both worker phases. */
  rows: Row[];
  /** Wall seconds of the worker phases. */
  seconds: number;
  /** Set when the runtime could not run at all. */
  error?: string;
}

/** One target of the issue, evaluated on one runtime. */
export interface TargetResult {
  /** What is required, in words. */
  target: string;
  /** Our figure, formatted with its unit. */
  ours: string;
  /** What it is compared with, formatted. */
  reference: string;
  /** ours / reference (or reference / ours for times), or NaN when a figure is missing. */
  ratio: number;
  /** The ratio that meets the target. */
  need: number;
  /** true met, false missed, null not measurable here. */
  met: boolean | null;
  /** Targets that apply only to some runtimes are printed as information elsewhere. */
  info?: boolean;
}

function find(rows: readonly Row[], id: string): Row | undefined {
  return rows.find((r) => r.id === id);
}

/** The median of a row, NaN if absent or unavailable. */
export function med(rows: readonly Row[], id: string): number {
  const r = find(rows, id);
  return r === undefined ? NaN : median(r.samples);
}

/** MB/s of a row: derived from records/s × bytes, from bytes / ms, or the row itself. */
function mbps(row: Row, value: number): number {
  if (row.unit === "MB/s") return value;
  if (row.bytesPerOp !== undefined && (row.unit === "ops/s" || row.unit === "records/s")) {
    return (value * row.bytesPerOp) / 1e6;
  }
  if (row.bytes !== undefined && row.unit === "ms") return row.bytes / 1e6 / (value / 1000);
  return NaN;
}

/** MB/s of a row's median. */
export function medMbps(rows: readonly Row[], id: string): number {
  const r = find(rows, id);
  return r === undefined ? NaN : mbps(r, median(r.samples));
}

function ratioTarget(
  target: string,
  ours: number,
  oursUnit: string,
  reference: number,
  referenceText: string,
  need: number,
  info = false,
): TargetResult {
  const ratio = ours / reference;
  return {
    target,
    ours: `${fmt(ours)} ${oursUnit}`,
    reference: referenceText,
    ratio,
    need,
    met: Number.isFinite(ratio) ? ratio >= need : null,
    info,
  };
}

/** The issue's targets on one runtime. */
export function evaluateTargets(result: RuntimeResult): TargetResult[] {
  const rows = result.rows;
  const rt = result.runtime;
  const fastRt = rt === "bun" || rt === "deno";
  const out: TargetResult[] = [];
  // Like for like: the physical loop through the same file API the log uses on this runtime.
  const physId = rt === "deno" ? "phys.denofs" : "phys.append";
  const physName = rt === "deno" ? "Deno.FsFile write+fdatasync loop" : "node:fs write+fdatasync loop";
  for (const s of ["128", "4096"]) {
    const phys = med(rows, `${physId}.${s}`);
    out.push(ratioTarget(
      `sync, 1 writer, ${s === "128" ? "128 B" : "4 KiB"}: ≥ 1.0 × raw appending write+fdatasync loop`,
      med(rows, `wal.sync.1.${s}`),
      "ops/s",
      phys,
      `${fmt(phys)} ops/s (${physName})`,
      1.0,
      s !== "128",
    ));
  }
  const s1 = med(rows, "wal.sync.1.128");
  const s256 = med(rows, "wal.sync.256.128");
  out.push(ratioTarget("sync, 256 outstanding: ≥ 30 × our 1-writer figure", s256, "ops/s", s1, `${fmt(s1)} ops/s`, 30));
  const l256 = med(rows, "level.put.256");
  out.push(
    ratioTarget(
      "sync, 256 outstanding: ≥ 4 × LevelDB with 256 outstanding",
      s256,
      "ops/s",
      l256,
      `${fmt(l256)} ops/s`,
      4,
    ),
  );
  const sq = med(rows, "sqlite.tx100");
  out.push(ratioTarget(
    "appendBatch of 100: ≥ 1.5 × SQLite 100 per transaction",
    med(rows, "wal.appendBatch100.128"),
    "records/s",
    sq,
    `${fmt(sq)} records/s`,
    1.5,
  ));
  const none = med(rows, "wal.none.1.128");
  const nonePipe = med(rows, "wal.none.pipe.128");
  out.push(ratioTarget(
    "none mode, 128 B, 1 writer awaiting each: ≥ 1,000,000 appends/s (Bun, Deno)",
    none,
    "ops/s",
    1_000_000,
    "1,000,000 ops/s",
    1,
    !fastRt,
  ));
  out.push(ratioTarget(
    "none mode, 128 B, 1 writer, 1000 appends per await: ≥ 1,000,000 appends/s (Bun, Deno)",
    nonePipe,
    "ops/s",
    1_000_000,
    "1,000,000 ops/s",
    1,
    true,
  ));
  const rep = med(rows, "replay.array.128");
  out.push(ratioTarget(
    "replay(), 128 B: ≥ 3,000,000 records/s (Bun, Deno)",
    rep,
    "records/s",
    3_000_000,
    "3,000,000 records/s",
    1,
    !fastRt,
  ));
  out.push(ratioTarget(
    "replayStream(), 128 B: ≥ 3,000,000 records/s (information)",
    med(rows, "replay.stream.128"),
    "records/s",
    3_000_000,
    "3,000,000 records/s",
    1,
    true,
  ));
  const raw64 = med(rows, "raw.read.65536");
  out.push(ratioTarget(
    "replay(), 64 KiB records: ≥ 60 % of raw read+crc MB/s",
    medMbps(rows, "replay.array.65536"),
    "MB/s",
    raw64,
    `${fmt(raw64)} MB/s`,
    0.6,
  ));
  out.push(ratioTarget(
    "replayStream(), 64 KiB records: ≥ 60 % of raw read+crc MB/s (information)",
    medMbps(rows, "replay.stream.65536"),
    "MB/s",
    raw64,
    `${fmt(raw64)} MB/s`,
    0.6,
    true,
  ));
  const rawBig = med(rows, "raw.read.big");
  out.push(ratioTarget(
    "open, full verification, big log: ≥ 50 % of raw read+crc MB/s",
    medMbps(rows, "open.full.big"),
    "MB/s",
    rawBig,
    `${fmt(rawBig)} MB/s`,
    0.5,
  ));
  const open200 = med(rows, "open.full.128");
  out.push({
    target: "open a 200,000-record log (128 B, full verification) in ≤ 20 ms",
    ours: `${fmt(open200)} ms`,
    reference: "20 ms",
    ratio: 20 / open200,
    need: 1,
    met: Number.isFinite(open200) ? open200 <= 20 : null,
  });
  const tailBig = med(rows, "open.tail.big");
  const tail1 = med(rows, "open.tail.1mb");
  out.push({
    target: "open, tail-only verification: big log ≤ 2 × the time of a 1 MiB log",
    ours: `${fmt(tailBig)} ms`,
    reference: `${fmt(tail1)} ms (1 MiB log)`,
    ratio: tail1 / tailBig,
    need: 0.5,
    met: Number.isFinite(tailBig / tail1) ? tailBig <= 2 * tail1 : null,
  });
  const tailFull = med(rows, "open.tail.fullseg");
  out.push({
    target: "open, tail-only, newest segment nearly full (64 MiB): ≤ 2 × the 1 MiB log (information)",
    ours: `${fmt(tailFull)} ms`,
    reference: `${fmt(tail1)} ms (1 MiB log)`,
    ratio: tail1 / tailFull,
    need: 0.5,
    met: Number.isFinite(tailFull / tail1) ? tailFull <= 2 * tail1 : null,
    info: true,
  });
  const peak = med(rows, "rss.peak");
  out.push({
    target: "streaming replay of the big log: peak RSS < 150 MB",
    ours: `${fmt(peak)} MB`,
    reference: "150 MB",
    ratio: 150 / peak,
    need: 1,
    met: Number.isFinite(peak) ? peak < 150 : null,
  });
  return out;
}

function pad(s: string, n: number, right = false): string {
  if (s.length >= n) return s;
  return right ? " ".repeat(n - s.length) + s : s + " ".repeat(n - s.length);
}

/** The text table of one runtime: every row with median, min, max, MB/s and notes, then its targets. */
export function runtimeTable(result: RuntimeResult, targets: readonly TargetResult[]): string {
  const lines: string[] = [];
  lines.push(`=== ${result.runtime} ${result.version} (${result.seconds.toFixed(0)} s) ===`);
  if (result.error) lines.push(`  did not run: ${result.error}`);
  let group = "";
  const w = 58;
  for (const row of result.rows) {
    if (row.group !== group) {
      group = row.group;
      lines.push("", `-- ${group}`);
      lines.push(
        `  ${pad("workload", w)} ${pad("median", 12, true)} ${pad("min", 12, true)} ${pad("max", 12, true)}  ${
          pad("unit", 9)
        } ${pad("MB/s", 8, true)}`,
      );
    }
    if (row.unavailable) {
      lines.push(`  ${pad(row.label, w)} ${pad("n/a", 12, true)}  ${row.unavailable}`);
      continue;
    }
    const m = median(row.samples);
    const mb = mbps(row, m);
    const note = row.note ? `  ${row.note}` : "";
    lines.push(
      `  ${pad(row.label, w)} ${pad(fmt(m), 12, true)} ${pad(fmt(min(row.samples)), 12, true)} ${
        pad(fmt(max(row.samples)), 12, true)
      }  ${pad(row.unit, 9)} ${pad(Number.isFinite(mb) ? fmt(mb) : "", 8, true)}${note}`,
    );
  }
  lines.push(
    "",
    `-- targets on ${result.runtime} (ratio = ours / reference; "info" = printed, not a target on this runtime)`,
  );
  for (const t of targets) {
    const verdict = t.met === null
      ? "n/a"
      : t.info
      ? (t.met ? "(info: would meet)" : "(info: below)")
      : t.met
      ? "MET"
      : "MISSED";
    lines.push(
      `  ${pad(verdict, 18)} ${pad(t.target, 86)} ${pad(t.ours, 20, true)}  vs ${t.reference}  ratio ${
        fmtRatio(t.ratio)
      } (need ${fmtRatio(t.need)})`,
    );
  }
  return lines.join("\n");
}

/** A ratio as "1.23×". */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return "–";
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** Facts about the machine, for the summary. */
export interface MachineFacts {
  /** CPU model. */
  cpu: string;
  /** Logical CPUs. */
  cpus: number;
  /** Total memory in GiB. */
  memGiB: number;
  /** The disk and file system holding the work dir. */
  disk: string;
  /** Load average when the run started and ended. */
  load: string;
  /** OS and kernel. */
  os: string;
}

/** Ids and labels of the rows in the summary table and the chart (128 B unless said). */
export const SUMMARY_ROWS: readonly (readonly [string, string])[] = [
  ["phys.append.128", "write+fdatasync loop (node:fs), ops/s"],
  ["phys.denofs.128", "write+fdatasync loop (Deno.FsFile), ops/s"],
  ["phys.prealloc.128", "write+fdatasync, preallocated file, ops/s"],
  ["wal.sync.1.128", "WAL sync, 1 writer, appends/s"],
  ["wal.sync.16.128", "WAL sync, 16 outstanding, appends/s"],
  ["wal.sync.64.128", "WAL sync, 64 outstanding, appends/s"],
  ["wal.sync.256.128", "WAL sync, 256 outstanding, appends/s"],
  ["level.put.1", "LevelDB put sync, one at a time, ops/s"],
  ["level.put.256", "LevelDB put sync, 256 outstanding, ops/s"],
  ["sqlite.auto", "SQLite WAL+FULL autocommit, inserts/s"],
  ["wal.appendBatch100.128", "WAL appendBatch of 100, records/s"],
  ["level.batch100", "LevelDB batch of 100 sync, records/s"],
  ["sqlite.tx100", "SQLite 100 per transaction, records/s"],
  ["wal.batch.1.128", "WAL batch mode, 1 writer, appends/s"],
  ["wal.none.1.128", "WAL none mode, 1 writer, appends/s"],
  ["wal.none.pipe.128", "WAL none mode, 1000 per await, appends/s"],
  ["replay.array.128", "replay(), records/s"],
  ["replay.stream.128", "replayStream(), records/s"],
];

/** The markdown summary: machine, key figures per runtime, and every target with met/missed. */
export function markdownSummary(results: readonly RuntimeResult[], machine: MachineFacts, quick: boolean): string {
  const rts = results.filter((r) => !r.error);
  const lines: string[] = [];
  lines.push(
    `Measured with \`npm run bench${
      quick ? " -- --quick" : ""
    }\` on ${machine.cpus} vCPU ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.disk}; ${machine.os}; load average ${machine.load}.`,
  );
  lines.push("Medians of runs (min–max in the JSON); 16 B keys, 128 B values unless said.", "");
  lines.push(`| workload | ${rts.map((r) => `${r.runtime} ${r.version}`).join(" | ")} |`);
  lines.push(`|---|${rts.map(() => "---:").join("|")}|`);
  for (const [id, label] of SUMMARY_ROWS) {
    const cells = rts.map((r) => {
      const row = find(r.rows, id);
      if (row === undefined) return "–";
      if (row.unavailable) return "n/a";
      return fmt(median(row.samples));
    });
    if (cells.every((c) => c === "–")) continue;
    lines.push(`| ${label} | ${cells.join(" | ")} |`);
  }
  const extra: [string, (r: RuntimeResult) => string][] = [
    [
      "replay(), 64 KiB records, MB/s (raw read+crc)",
      (r) => `${fmt(medMbps(r.rows, "replay.array.65536"))} (${fmt(med(r.rows, "raw.read.65536"))})`,
    ],
    ["open 200,000-record log, full, ms", (r) => fmt(med(r.rows, "open.full.128"))],
    [
      "open big log, full, MB/s (raw read+crc)",
      (r) => `${fmt(medMbps(r.rows, "open.full.big"))} (${fmt(med(r.rows, "raw.read.big"))})`,
    ],
    [
      "open big log / 1 MiB log, tail-only, ms",
      (r) => `${fmt(med(r.rows, "open.tail.big"))} / ${fmt(med(r.rows, "open.tail.1mb"))}`,
    ],
    ["open, tail-only, newest segment nearly full (64 MiB), ms", (r) => fmt(med(r.rows, "open.tail.fullseg"))],
    ["peak RSS streaming the big log, MB", (r) => fmt(med(r.rows, "rss.peak"))],
  ];
  for (const [label, f] of extra) lines.push(`| ${label} | ${rts.map(f).join(" | ")} |`);
  lines.push("", `| target | ${rts.map((r) => r.runtime).join(" | ")} |`);
  lines.push(`|---|${rts.map(() => "---").join("|")}|`);
  const byRt = rts.map((r) => evaluateTargets(r));
  if (byRt.length > 0) {
    for (let i = 0; i < byRt[0].length; i++) {
      const cells = byRt.map((ts) => {
        const t = ts[i];
        const v = t.met === null
          ? "n/a"
          : t.info
          ? (t.met ? "(info) ✓" : "(info) ✗")
          : t.met
          ? "**met**"
          : "**missed**";
        return `${t.ours}, ${fmtRatio(t.ratio)} ${v}`;
      });
      lines.push(`| ${byRt[0][i].target} (need ${fmtRatio(byRt[0][i].need)}) | ${cells.join(" | ")} |`);
    }
  }
  return lines.join("\n") + "\n";
}

const COLORS: Record<RuntimeName, string> = { deno: "#2a9d8f", bun: "#e9a23b", node: "#5b7fc7" };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * The chart: throughput of the summary rows, one bar per runtime, on a log scale; then every target as the
 * ratio of our figure to the required one (1.0 = just met).
 */
export function svgChart(results: readonly RuntimeResult[], machine: MachineFacts, quick: boolean): string {
  const rts = results.filter((r) => !r.error);
  const left = 400;
  const plotW = 520;
  const barH = 9;
  const rowGap = 8;
  const rowH = rts.length * barH + rowGap;
  const top = 70;
  const minExp = 3;
  const maxExp = 8;
  const x = (v: number) => left + (Math.log10(Math.max(v, 10 ** minExp)) - minExp) / (maxExp - minExp) * plotW;
  const parts: string[] = [];
  const rows = SUMMARY_ROWS.filter(([id]) => rts.some((r) => Number.isFinite(med(r.rows, id))));
  let y = top;
  parts.push(
    `<text x="10" y="22" font-size="16" font-weight="bold">Write-ahead log benchmark${
      quick ? " (--quick)" : ""
    }</text>`,
  );
  parts.push(
    `<text x="10" y="40" font-size="11">${
      esc(
        `${machine.cpus} vCPU ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.disk}; 16 B keys, 128 B values; medians`,
      )
    }</text>`,
  );
  rts.forEach((r, i) => {
    parts.push(`<rect x="${left + i * 150}" y="48" width="10" height="10" fill="${COLORS[r.runtime]}"/>`);
    parts.push(`<text x="${left + i * 150 + 14}" y="57" font-size="11">${esc(`${r.runtime} ${r.version}`)}</text>`);
  });
  const plotTop = y;
  for (const [id, label] of rows) {
    parts.push(
      `<text x="${left - 6}" y="${y + (rts.length * barH) / 2 + 4}" font-size="11" text-anchor="end">${
        esc(label)
      }</text>`,
    );
    rts.forEach((r, i) => {
      const row = find(r.rows, id);
      const v = row && !row.unavailable ? median(row.samples) : NaN;
      const by = y + i * barH;
      if (Number.isFinite(v)) {
        parts.push(
          `<rect x="${left}" y="${by}" width="${(x(v) - left).toFixed(1)}" height="${barH - 1}" fill="${
            COLORS[r.runtime]
          }"/>`,
        );
        parts.push(`<text x="${(x(v) + 3).toFixed(1)}" y="${by + barH - 1}" font-size="8">${fmt(v)}</text>`);
      } else {
        parts.push(`<text x="${left + 3}" y="${by + barH - 1}" font-size="8">n/a</text>`);
      }
    });
    y += rowH;
  }
  for (let e = minExp; e <= maxExp; e++) {
    const gx = x(10 ** e);
    parts.push(`<line x1="${gx}" y1="${plotTop - 4}" x2="${gx}" y2="${y}" stroke="#bbb" stroke-width="0.5"/>`);
    parts.push(`<text x="${gx}" y="${y + 12}" font-size="10" text-anchor="middle">1e${e}</text>`);
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${y + 26}" font-size="11" text-anchor="middle">per second, log scale</text>`,
  );
  // Targets panel.
  y += 50;
  parts.push(
    `<text x="10" y="${y}" font-size="14" font-weight="bold">Targets: our figure / required figure (≥ 1 = met)</text>`,
  );
  y += 14;
  const tTop = y;
  const rx = (r: number) => left + Math.min(Math.max(r, 0), 4) / 4 * plotW;
  const targetsByRt = rts.map((r) => evaluateTargets(r));
  const count = targetsByRt.length > 0 ? targetsByRt[0].length : 0;
  for (let t = 0; t < count; t++) {
    const name = targetsByRt[0][t].target;
    parts.push(
      `<text x="${left - 6}" y="${y + (rts.length * barH) / 2 + 4}" font-size="9" text-anchor="end">${
        esc(name.length > 80 ? name.slice(0, 79) + "…" : name)
      }</text>`,
    );
    rts.forEach((r, i) => {
      const tr = targetsByRt[i][t];
      const rel = tr.ratio / tr.need;
      const by = y + i * barH;
      if (Number.isFinite(rel)) {
        const fill = tr.info ? "#bbbbbb" : COLORS[r.runtime];
        parts.push(
          `<rect x="${left}" y="${by}" width="${(rx(rel) - left).toFixed(1)}" height="${barH - 1}" fill="${fill}"/>`,
        );
        const mark = tr.met === null ? "" : tr.info ? " info" : tr.met ? " met" : " missed";
        parts.push(
          `<text x="${(rx(rel) + 3).toFixed(1)}" y="${by + barH - 1}" font-size="8">${rel.toFixed(2)}${mark}</text>`,
        );
      }
    });
    y += rowH;
  }
  for (const g of [0, 1, 2, 3, 4]) {
    const gx = rx(g);
    parts.push(
      `<line x1="${gx}" y1="${tTop - 4}" x2="${gx}" y2="${y}" stroke="${g === 1 ? "#c0392b" : "#bbb"}" stroke-width="${
        g === 1 ? 1.2 : 0.5
      }"/>`,
    );
    parts.push(`<text x="${gx}" y="${y + 12}" font-size="10" text-anchor="middle">${g}${g === 4 ? "+" : ""}</text>`);
  }
  const height = y + 30;
  const width = left + plotW + 90;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}
