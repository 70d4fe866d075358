/**
 * The benchmark of issue 5: `npm run bench` (`node scripts/bench/main.ts`).
 *
 * Spawns `worker.ts` once per runtime (Deno with the least permissions it needs, Bun, Node), then three (one
 * with `--quick`) fresh worker processes that each stream the big log and sample their RSS; prints a table per runtime with the
 * issue's targets as ratios, and writes JSON, an SVG chart and a markdown summary under `bench-results/`.
 *
 * Flags: `--quick` (smoke check in under a minute: shorter runs, a 64 MiB log instead of 1 GiB),
 * `--runtime deno|bun|node` (repeatable or comma-separated; default every runtime in node_modules/.bin),
 * `--dir <path>` (where the logs are written; default bench-results/work, on the repository's disk).
 *
 * @module
 */

import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { RuntimeName, WorkerResult } from "./common.ts";
import { evaluateTargets, markdownSummary, runtimeTable, svgChart } from "./report.ts";
import type { MachineFacts, RuntimeResult } from "./report.ts";
import type { ServerResult } from "./server.ts";
import { serverTable } from "./server_report.ts";
import { httpRows, httpTable } from "./http.ts";
import { coldOpenResults, coldOpenTable } from "./cold_open.ts";
import type { HttpRow } from "./http.ts";
import { truncateResult, truncateTable } from "./truncate_cases.ts";
import type { TruncateResult } from "./truncate_cases.ts";
import { readResult, readTable } from "./read_cases.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const bin = path.join(repo, "node_modules", ".bin");
const ALL: readonly RuntimeName[] = ["deno", "bun", "node"];
/** The parts `--only` can pick; the default runs them all. */
const PARTS = ["core", "server", "http", "open", "truncate", "read", "follow"] as const;
type Part = typeof PARTS[number];

interface MainArgs {
  quick: boolean;
  /** Which parts run: the log's own workloads and peers ("core"), the server-shaped ones ("server"), or both. */
  only: "all" | Part;
  /** `--module`: measure another checkout's mod.ts in the server-shaped part (before/after). */
  module?: string;
  runtimes: RuntimeName[];
  dir: string;
}

function parseArgs(argv: readonly string[]): MainArgs {
  let quick = false;
  let only: MainArgs["only"] = "all";
  let module: string | undefined;
  const runtimes: RuntimeName[] = [];
  let dir = path.join(repo, "bench-results", "work");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") quick = true;
    else if (a === "--runtime" || a.startsWith("--runtime=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i] ?? "";
      for (const name of v.split(",")) {
        if (!ALL.includes(name as RuntimeName)) throw new Error(`--runtime: expected deno, bun or node, got "${name}"`);
        if (!runtimes.includes(name as RuntimeName)) runtimes.push(name as RuntimeName);
      }
    } else if (a === "--dir") dir = path.resolve(argv[++i] ?? "");
    else if (a === "--only") {
      const v = argv[++i] ?? "";
      if (!(PARTS as readonly string[]).includes(v)) {
        throw new Error(`--only: expected ${PARTS.join(", ")}, got "${v}"`);
      }
      only = v as Part;
    } else if (a === "--module") module = path.resolve(argv[++i] ?? "");
    else if (a === "--help" || a === "-h") {
      process.stdout.write(
        `usage: npm run bench -- [--quick] [--runtime deno|bun|node] [--dir <work dir>] [--only ${PARTS.join("|")}]` +
          " [--module <other checkout>/mod.ts]\n",
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return { quick, only, module, runtimes: runtimes.length > 0 ? runtimes : [...ALL], dir };
}

/** The command line that runs the worker on a runtime. Deno gets only what the workloads touch. */
function workerCommand(rt: RuntimeName, workDir: string, args: string[]): [string, string[]] {
  const worker = path.join(here, "worker.ts");
  if (rt === "deno") {
    const level = path.join(repo, "node_modules", "classic-level");
    return [path.join(bin, "deno"), [
      "run",
      "--no-prompt",
      `--config=${path.join(repo, "deno.json")}`,
      // /etc/alpine-release and the variables below: node-gyp-build's probes when classic-level picks its
      // prebuilt binary. classic-level is a Node-API addon; Deno loads those only with --allow-ffi.
      `--allow-read=${repo},${workDir},/etc/alpine-release`,
      `--allow-write=${workDir}`,
      `--allow-env=PREBUILDS_ONLY,ELECTRON_RUN_AS_NODE,npm_config_arch,npm_config_platform,LIBC,ARM_VERSION`,
      `--allow-ffi=${level}`,
      worker,
      ...args,
    ]];
  }
  return [path.join(bin, rt), [worker, ...args]];
}

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // The worker's stdout and stderr both go to our stderr: stdout is kept for the tables.
    const child = spawn(cmd, args, { cwd: repo, stdio: ["ignore", 2, 2] });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function runRuntime(rt: RuntimeName, opts: MainArgs): Promise<RuntimeResult> {
  const workDir = path.join(opts.dir, `${rt}-${process.pid}`);
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  const result: RuntimeResult = { runtime: rt, version: "?", rows: [], seconds: 0 };
  try {
    // The RSS phase runs in fresh processes, three times (once with --quick): a figure is a median like every other.
    for (const phase of opts.quick ? ["main", "rss"] as const : ["main", "rss", "rss", "rss"] as const) {
      const out = path.join(workDir, `result-${phase}.json`); // inside the only dir Deno may write
      const args = ["--dir", workDir, "--out", out, "--phase", phase, ...(opts.quick ? ["--quick"] : [])];
      const [cmd, argv] = workerCommand(rt, workDir, args);
      process.stderr.write(
        `[${rt}] phase ${phase}: ${path.basename(cmd)} ${
          argv.map((a) => (path.isAbsolute(a) ? path.relative(repo, a) : a)).join(" ")
        }\n`,
      );
      const code = await run(cmd, argv);
      if (code !== 0 || !fs.existsSync(out)) {
        result.error = `${phase} phase exited with ${code}`;
        break;
      }
      const w = JSON.parse(fs.readFileSync(out, "utf8")) as WorkerResult;
      fs.rmSync(out, { force: true });
      result.version = w.version;
      for (const row of w.rows) {
        const seen = result.rows.find((r) => r.id === row.id);
        if (seen) seen.samples.push(...row.samples);
        else result.rows.push(row);
      }
      result.seconds += w.seconds;
    }
  } catch (e) {
    result.error = String((e as Error).message ?? e);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  return result;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

function machineFacts(dir: string, loadAtStart: string): MachineFacts {
  const cpus = os.cpus();
  fs.mkdirSync(dir, { recursive: true });
  const df = sh("df", ["-T", dir]).split("\n")[1]?.split(/\s+/) ?? [];
  const dev = df[0] ?? "?";
  const fsType = df[1] ?? "?";
  const base = path.basename(dev).replace(/\d+$/, "");
  const rota = sh("cat", [`/sys/block/${base}/queue/rotational`]);
  const diskKind = rota === "0"
    ? "non-rotational"
    : rota === "1"
    ? "reported rotational (virtual disk)"
    : "unknown kind";
  const l = os.loadavg().map((v) => v.toFixed(2)).join(" ");
  return {
    cpu: cpus[0]?.model ?? "?",
    cpus: cpus.length,
    memGiB: Math.round(os.totalmem() / 1024 ** 3),
    disk: `${fsType} on ${dev} (${diskKind})`,
    load: `${loadAtStart} at start, ${l} at end`,
    os: `${os.type()} ${os.release()}`,
  };
}

/**
 * Runs `server.ts` on one runtime and returns its result. Deno gets every permission there: lmdb is a Node-API
 * addon (FFI) with its own probes of the environment.
 */
async function runServer(rt: RuntimeName, opts: MainArgs): Promise<ServerResult | string> {
  const workDir = path.join(opts.dir, `server-${rt}-${process.pid}`);
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  const out = path.join(workDir, "result.json");
  const script = path.join(here, "server.ts");
  const args = [script, "--dir", path.join(workDir, "w"), "--out", out, ...(opts.quick ? ["--quick"] : [])];
  if (opts.module !== undefined) args.push("--module", opts.module);
  const cmd = path.join(bin, rt);
  const argv = rt === "deno" ? ["run", "--no-prompt", `--config=${path.join(repo, "deno.json")}`, "-A", ...args] : args;
  try {
    const code = await run(cmd, argv);
    if (code !== 0 || !fs.existsSync(out)) return `server phase exited with ${code}`;
    return JSON.parse(fs.readFileSync(out, "utf8")) as ServerResult;
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

async function allHttpRows(opts: MainArgs): Promise<HttpRow[]> {
  const rows: HttpRow[] = [];
  fs.mkdirSync(opts.dir, { recursive: true });
  for (const rt of opts.runtimes) {
    if (!fs.existsSync(path.join(bin, rt))) continue;
    process.stderr.write(`[${rt}] HTTP event store under autocannon\n`);
    rows.push(...await httpRows(repo, rt, opts.dir, opts.quick ? 3 : 10));
  }
  return rows;
}

/** `--only truncate`: truncateAfter on a 1 GiB log (64 MiB with --quick), per runtime. */
async function truncatePart(opts: MainArgs): Promise<string> {
  const results: TruncateResult[] = [];
  for (const rt of opts.runtimes.filter((r) => fs.existsSync(path.join(bin, r)))) {
    const r = await truncateResult(repo, rt, opts.dir, opts.quick);
    if (typeof r === "string") {
      process.exitCode = 1;
      process.stderr.write(r + "\n");
    } else results.push(r);
  }
  return truncateTable(results);
}

/** `--only read`: read(seq) random and in order against raw positioned reads, per runtime. */
async function readPart(opts: MainArgs): Promise<string> {
  const results = [];
  for (const rt of opts.runtimes.filter((r) => fs.existsSync(path.join(bin, r)))) {
    results.push(await readResult(repo, rt, opts.dir, opts.quick));
  }
  return readTable(results);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.only === "read") {
    process.stdout.write(await readPart(opts) + "\n");
    return;
  }
  if (opts.only === "follow") {
    const { runFollowBench } = await import("./follow_cases.ts");
    return await runFollowBench(opts.runtimes, opts.dir, opts.quick);
  }
  if (opts.only === "http") {
    process.stdout.write(httpTable(await allHttpRows(opts)) + "\n");
    return;
  }
  if (opts.only === "open") {
    fs.mkdirSync(opts.dir, { recursive: true });
    process.stdout.write(coldOpenTable(await coldOpenResults(repo, opts.runtimes, opts.dir, opts.quick)) + "\n");
    return;
  }
  if (opts.only === "truncate") {
    process.stdout.write(await truncatePart(opts) + "\n");
    return;
  }
  if (opts.only === "server") {
    const servers: ServerResult[] = [];
    for (const rt of opts.runtimes) {
      if (!fs.existsSync(path.join(bin, rt))) continue;
      const r = await runServer(rt, opts);
      if (typeof r === "string") {
        process.stderr.write(`[${rt}] ${r}\n`);
        process.exitCode = 1;
      } else servers.push(r);
    }
    for (const r of servers) process.stdout.write(serverTable(r) + "\n\n");
    const resultsDir = path.join(repo, "bench-results");
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, "bench-server-latest.json"), JSON.stringify(servers, null, 2));
    return;
  }
  const resultsDir = path.join(repo, "bench-results");
  fs.mkdirSync(resultsDir, { recursive: true });
  const loadAtStart = os.loadavg().map((v) => v.toFixed(2)).join(" ");
  const t0 = Date.now();
  const results: RuntimeResult[] = [];
  for (const rt of opts.runtimes) {
    if (!fs.existsSync(path.join(bin, rt))) {
      process.stderr.write(`[${rt}] not installed in node_modules/.bin: skipped\n`);
      continue;
    }
    process.stderr.write(
      `[${rt}] starting${opts.quick ? " (--quick: short runs, 64 MiB big log instead of 1 GiB)" : ""}\n`,
    );
    const r = await runRuntime(rt, opts);
    results.push(r);
    process.stderr.write(`[${rt}] done in ${r.seconds.toFixed(0)} s${r.error ? `: ${r.error}` : ""}\n`);
  }
  const machine = machineFacts(opts.dir, loadAtStart);
  const targets = Object.fromEntries(results.map((r) => [r.runtime, evaluateTargets(r)]));
  for (const r of results) process.stdout.write(runtimeTable(r, targets[r.runtime]) + "\n\n");
  if (opts.only === "all") {
    for (const r of results) {
      const s = await runServer(r.runtime, opts);
      if (typeof s === "string") {
        process.stderr.write(`[${r.runtime}] ${s}\n`);
        process.exitCode = 1;
      } else process.stdout.write(serverTable(s) + "\n\n");
    }
    process.stdout.write(httpTable(await allHttpRows(opts)) + "\n\n");
    process.stdout.write(coldOpenTable(await coldOpenResults(repo, opts.runtimes, opts.dir, opts.quick)) + "\n\n");
    process.stdout.write(await truncatePart(opts) + "\n\n");
    process.stdout.write(await readPart(opts) + "\n\n");
    await (await import("./follow_cases.ts")).runFollowBench(opts.runtimes, opts.dir, opts.quick);
  }
  const summary = markdownSummary(results, machine, opts.quick);
  process.stdout.write("=== summary (markdown) ===\n" + summary + "\n");
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const json = JSON.stringify(
    { quick: opts.quick, startedAt: new Date(t0).toISOString(), machine, results, targets },
    null,
    2,
  );
  const svg = svgChart(results, machine, opts.quick);
  const base = opts.quick ? "bench-quick" : "bench";
  for (const name of [`${base}-${stamp}`, `${base}-latest`]) {
    fs.writeFileSync(path.join(resultsDir, `${name}.json`), json);
    fs.writeFileSync(path.join(resultsDir, `${name}.svg`), svg);
    fs.writeFileSync(path.join(resultsDir, `${name}.md`), summary);
  }
  try {
    fs.rmdirSync(opts.dir); // only if empty: a --dir given by the user is never removed with its contents
  } catch {
    // not empty or already gone
  }
  process.stderr.write(
    `wrote bench-results/${base}-latest.{json,svg,md} (and ${base}-${stamp}.*) in ${
      ((Date.now() - t0) / 1000).toFixed(0)
    } s\n`,
  );
  if (results.some((r) => r.error)) process.exitCode = 1;
}

await main();
