/**
 * What every scenario program needs before its first check: the runtime it runs on, its command line, a
 * place for its logs, and a way to report checks as `PASS`/`FAIL` lines with a summary and an exit code.
 *
 * Scenarios are programs, not tests: they print and exit, so a person can run them by hand on any runtime.
 *
 * @module
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";

/** The runtimes the scenarios run on. */
export type RuntimeName = "deno" | "bun" | "node";

/** The runtime this program runs on. */
export function runtimeName(): RuntimeName {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

/** The part of the `Deno` namespace the scenarios use, declared so the sources type-check on every runtime. */
interface DenoTempApi {
  makeTempDirSync(options: { prefix: string }): string;
}

/**
 * A new empty directory under the OS temp directory. On Deno it is made by `Deno.makeTempDirSync`, because
 * `os.tmpdir()` reads TMPDIR and would need `--allow-env` for nothing else.
 */
export function makeTempDir(prefix: string): string {
  if ("Deno" in globalThis) {
    return (globalThis as unknown as { Deno: DenoTempApi }).Deno.makeTempDirSync({ prefix });
  }
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The command line of a scenario, parsed. */
export interface ScenarioArgs {
  /** `--keep`: leave the data in place and print where it is. */
  keep: boolean;
  /** `--dir DIR`: put the data there instead of a new temp directory (it is never removed). */
  dir: string | undefined;
  /** Scenario-specific switches that were given (`--resume`, ...). */
  flags: Set<string>;
  /** Scenario-specific options with a value (`--seed 7`, ...). */
  options: Map<string, string>;
}

/** What a scenario accepts beyond `--keep`, `--dir` and `--help`. */
export interface ArgSpec {
  /** Switches without a value, with their one-line help. */
  flags?: Record<string, string>;
  /** Options that take a value, with their one-line help. */
  options?: Record<string, string>;
}

/**
 * Parses `process.argv` for a scenario. `--help` prints the usage and exits 0; anything unknown prints the
 * usage and exits 2, so a typo never silently runs a different scenario.
 */
export function parseArgs(
  scenario: string,
  spec: ArgSpec = {},
  argv: readonly string[] = process.argv.slice(2),
): ScenarioArgs {
  const flags = spec.flags ?? {};
  const options = spec.options ?? {};
  const usage = () => {
    const lines = [
      `usage: ${scenario}/main.ts [--keep] [--dir DIR]${Object.keys(flags).map((f) => ` [${f}]`).join("")}${
        Object.keys(options).map((o) => ` [${o} VALUE]`).join("")
      }`,
    ];
    lines.push("  --keep      leave the log directory in place and print its path");
    lines.push("  --dir DIR   use DIR for the logs (created if missing, never removed)");
    for (const [name, help] of Object.entries({ ...flags, ...options })) lines.push(`  ${name.padEnd(11)} ${help}`);
    return lines.join("\n");
  };
  const out: ScenarioArgs = { keep: false, dir: undefined, flags: new Set(), options: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      console.log(usage());
      process.exit(0);
    } else if (arg === "--keep") {
      out.keep = true;
    } else if (arg === "--dir" || arg in options) {
      const value = argv[++i];
      if (value === undefined) {
        console.error(`${arg} needs a value\n${usage()}`);
        process.exit(2);
      }
      if (arg === "--dir") out.dir = path.resolve(value);
      else out.options.set(arg, value);
    } else if (arg in flags) {
      out.flags.add(arg);
    } else {
      console.error(`unknown argument ${arg}\n${usage()}`);
      process.exit(2);
    }
  }
  return out;
}

/**
 * Where a scenario keeps its logs: a base directory with one fresh subdirectory per case, so cases never see
 * each other's files and a kept run can be inspected case by case.
 */
export class Workspace {
  /** The base directory. */
  readonly root: string;
  #remove: boolean;
  #count = 0;

  /** Uses `args.dir` (created if missing) or a new temp directory named after the scenario. */
  constructor(scenario: string, args: ScenarioArgs) {
    if (args.dir !== undefined) {
      fs.mkdirSync(args.dir, { recursive: true });
      this.root = args.dir;
      this.#remove = false;
    } else {
      this.root = makeTempDir(`wal-scenario-${scenario}-`);
      this.#remove = !args.keep;
    }
  }

  /** A new empty directory for one case, named after it. */
  caseDir(name: string): string {
    const safe = name.replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 60);
    const dir = path.join(this.root, `${String(++this.#count).padStart(3, "0")}-${safe}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Removes the data unless it is to be kept; says where kept data is. */
  finish(): void {
    if (this.#remove) {
      fs.rmSync(this.root, { recursive: true, force: true });
    } else {
      console.log(`data kept in ${this.root}`);
    }
  }
}

/** Collects check results, prints one line each, and turns them into the exit code. */
export class Checker {
  /** Checks that passed. */
  passed = 0;
  /** Checks that failed. */
  failed = 0;

  /** Records a passed check. */
  pass(name: string): void {
    this.passed++;
    console.log(`PASS ${name}`);
  }

  /** Records a failed check. */
  fail(name: string, why: string): void {
    this.failed++;
    console.log(`FAIL ${name}: ${why}`);
  }

  /**
   * Runs one check: it passes when `fn` returns null (or nothing), fails with the string it returns, and fails
   * with the error's message when it throws, so one broken case never hides the checks after it.
   */
  async check(name: string, fn: () => Promise<string | null | void> | string | null | void): Promise<boolean> {
    try {
      const why = await fn();
      if (typeof why === "string") {
        this.fail(name, why);
        return false;
      }
      this.pass(name);
      return true;
    } catch (e) {
      this.fail(name, describeError(e));
      return false;
    }
  }

  /** Prints the summary line and exits: 0 when nothing failed, 1 otherwise. */
  finish(): never {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    process.exit(this.failed === 0 ? 0 : 1);
  }
}

/** An error as one line: its class name and message. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`.replace(/\s*\n\s*/g, " ");
  return String(e);
}

/**
 * Runs a scenario body with a workspace and a checker: an unexpected throw becomes a failed check, the data is
 * cleaned up (or kept), and the process exits with the checker's verdict.
 */
export async function runScenario(
  scenario: string,
  spec: ArgSpec,
  body: (ctx: { args: ScenarioArgs; ws: Workspace; checker: Checker }) => Promise<void>,
): Promise<never> {
  const args = parseArgs(scenario, spec);
  const ws = new Workspace(scenario, args);
  const checker = new Checker();
  console.log(`scenario ${scenario} on ${runtimeName()} ${runtimeVersion()}, data in ${ws.root}`);
  try {
    await body({ args, ws, checker });
  } catch (e) {
    checker.fail("scenario ran to its end", describeError(e));
  }
  // A failed run keeps its data: the files are the evidence.
  if (checker.failed > 0 && !args.keep && args.dir === undefined) {
    console.log(`data of the failed run kept in ${ws.root}`);
  } else {
    ws.finish();
  }
  return checker.finish();
}

/** The runtime's version, for the scenario's first line. */
export function runtimeVersion(): string {
  const versions = process.versions as Record<string, string | undefined>;
  const v = versions[runtimeName()] ?? process.version;
  return v.startsWith("v") ? v : `v${v}`;
}
