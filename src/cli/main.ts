#!/usr/bin/env node
/**
 * `wal`: look inside a write-ahead log without changing it. Runs from the sources on Deno (`--allow-read` is
 * all it needs), Bun and Node, and as the package's `bin` from the built files.
 *
 * ```sh
 * wal stats DIR            # segments, records by kind, batches, bytes, seq range, damage
 * wal verify DIR           # exit 0 clean, 1 damage found, 2 usage or I/O error
 * wal dump DIR --from 10 --to 20 --json
 * wal tail DIR -n 20 -f
 * ```
 *
 * @module
 */

import { writeStderr } from "../io/terminal.ts";
import process from "node:process";
import { parseArgs } from "node:util";
import { WalError } from "../errors.ts";
import { dump, stats, tail, verify } from "./commands.ts";
import { CliExit, EXIT, LineWriter } from "./output.ts";

const USAGE = `wal: look inside a write-ahead log (read-only: it never writes, repairs or locks)

Usage:
  wal stats DIR [--json]                          segments, records by kind, batches, bytes, seq range, damage
  wal verify DIR                                  check every record; exit 0 clean, 1 damage, 2 error
  wal dump DIR [--from SEQ] [--to SEQ] [--all] [--json]
                                                  records as a table or NDJSON
  wal tail DIR [-n N] [-f] [--poll MS] [--all] [--json]
                                                  the last N records; -f: then new ones as they arrive
  wal COMMAND --help                              help for one command

Exit codes: 0 done (verify: no damage), 1 damage found (verify), 2 usage or I/O error.
`;

const HELP: Record<string, string> = {
  stats: `Usage: wal stats DIR [--json]

Reads every record of the log in DIR and prints: the number of segments, the oldest and newest segment with
their sizes, the bytes on disk, the number of records and their seq range, the records by kind (opType, COMMIT,
CHECKPOINT), the number of batches (COMMIT records), the damage found (where the valid log ends, or "none"), and
what an open for writing would do to the files (nothing is done).

  --json   one JSON object instead of the text lines
  -h, --help

Exit codes: 0 (also when damage is found: use verify to check), 2 usage or I/O error.
`,
  verify: `Usage: wal verify DIR

Checks every record of every segment of the log in DIR (checksums, seq order, batch rules, segment headers and
the segment chain). Prints "ok: ..." or the damage found: the file, the offset, the seq expected there and the
reason, and whether it is a torn tail (what a crash leaves; open cuts it) or damage a crash cannot explain.
Beside a live writer, a record still being written where the scan ends is read again after a short pause, and is
reported only if it stays incomplete.

  -h, --help

Exit codes: 0 no damage, 1 damage found, 2 usage or I/O error (missing directory, not a log, unreadable).
`,
  dump: `Usage: wal dump DIR [--from SEQ] [--to SEQ] [--all] [--json]

Prints the records of the log in DIR as stored, COMMIT and CHECKPOINT records included, up to the last complete
record: a table (seq, opType, key, value), or NDJSON with --json. Text values print as text (control characters
escaped in the table); byte values print as hex in the table and base64 in JSON ("encoding": "base64").

  --from SEQ   first seq to print (default: the first record)
  --to SEQ     last seq to print (default: the last record)
  --all        print keys and values whole in the table (default: cut to 32 and 64 characters)
  --json       one JSON object per line: {"seq","op","key","value","encoding":"utf8"|"base64"}
  -h, --help

Exit codes: 0, 2 usage or I/O error.
`,
  tail: `Usage: wal tail DIR [-n N] [-f] [--poll MS] [--all] [--json]

Prints the last N records of the log in DIR (as dump does). With -f, keeps running and prints each new record
once it is complete in the log (a batch once its COMMIT is), until interrupted. It polls: every MS milliseconds
it reads the newest segment on from where the previous read ended, so a record shows up at most about MS (plus
the read) after the writer wrote it. The writer's own acknowledgement may come later than that (it waits for
fdatasync): tail shows what is written, in order, never a part of a batch.

  -n, --lines N   how many records (default 10)
  -f, --follow    keep printing new records
  --poll MS       how often -f looks for new records, in milliseconds (default 200)
  --all           print keys and values whole
  --json          one JSON object per line (as dump --json)
  -h, --help

Exit codes: 0, 2 usage or I/O error.
`,
};

function usage(message: string): never {
  throw new CliExit(EXIT.error, `wal: ${message}\n\n${USAGE}`);
}

function seqArg(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) usage(`--${name} must be a seq (a whole number), not "${value}"`);
  return Number(value);
}

/** Runs `wal` with `args` (without the runtime and script); resolves to the exit code. */
async function main(args: string[], out: LineWriter = new LineWriter()): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    await out.line(USAGE.trimEnd());
    return command === undefined ? EXIT.error : EXIT.ok;
  }
  if (!(command in HELP)) usage(`unknown command "${command}"`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: "boolean", short: "h" },
        json: { type: "boolean" },
        ...(command === "dump" || command === "tail" ? { all: { type: "boolean" } } : {}),
        ...(command === "dump" ? { from: { type: "string" }, to: { type: "string" } } : {}),
        ...(command === "tail"
          ? { lines: { type: "string", short: "n" }, follow: { type: "boolean", short: "f" }, poll: { type: "string" } }
          : {}),
      },
    });
  } catch (e) {
    throw new CliExit(EXIT.error, `wal ${command}: ${e instanceof Error ? e.message : e}\n\n${HELP[command]}`);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help === true) {
    await out.line(HELP[command].trimEnd());
    return EXIT.ok;
  }
  if (parsed.positionals.length !== 1) {
    throw new CliExit(EXIT.error, `wal ${command}: expected one log directory\n\n${HELP[command]}`);
  }
  const dir = parsed.positionals[0];
  const json = v.json === true;
  const all = v.all === true;
  switch (command) {
    case "stats":
      return await stats(dir, json, out);
    case "verify":
      if (json) usage("verify has no --json");
      return await verify(dir, out);
    case "dump": {
      const from = seqArg("from", v.from as string | undefined, 0);
      const to = seqArg("to", v.to as string | undefined, Number.MAX_SAFE_INTEGER);
      return await dump(dir, { from, to, all, json }, out);
    }
    default: {
      const lines = seqArg("lines", v.lines as string | undefined, 10);
      const pollMs = seqArg("poll", v.poll as string | undefined, 200);
      if (pollMs < 1 || pollMs > 2 ** 31 - 1) usage("--poll must be from 1 to 2147483647 (milliseconds)");
      return await tail(dir, { lines, follow: v.follow === true, pollMs, all, json }, out);
    }
  }
}

/** Runs `main` on the process's arguments and exits with its code; errors go to stderr. */
async function run(): Promise<void> {
  const out = new LineWriter();
  let code: number;
  try {
    code = await main(process.argv.slice(2), out);
  } catch (e) {
    await out.flush();
    if (e instanceof CliExit) {
      writeStderr(e.message.endsWith("\n") ? e.message : e.message + "\n");
      code = e.code;
    } else {
      const message = e instanceof WalError ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      writeStderr(`${message.startsWith("wal: ") ? "" : "wal: "}${message}\n`);
      code = EXIT.error;
    }
  }
  await out.flush();
  process.exit(code);
}

// An entry point, never imported by the library: no top-level await, so that it also loads where that matters.
run();
