/**
 * The `wal` command line, run as a user runs it, from the sources on Deno (with `--allow-read` only), Bun and
 * Node, against real logs: clean, torn tail, damaged middle, and one a live writer process holds.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { payloadFor, runtimeBinary } from "./fixtures/child_writer.ts";
import type { Runtime } from "./fixtures/child_writer.ts";
import { startWriter } from "./fixtures/live_writer.ts";
import { removeDir, segmentFiles, tempDir } from "./helpers.ts";
import { crc32 } from "../src/crc32.ts";
import { decodeSeal, encodeSeal } from "../src/format.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const MAIN = path.join(ROOT, "src", "cli", "main.ts");
const RUNTIMES: Runtime[] = ["deno", "bun", "node"];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function command(runtime: Runtime, args: string[]): string[] {
  // Deno gets read permission only: the CLI must need nothing else.
  return runtime === "deno" ? ["run", "--allow-read", "--no-prompt", "--no-lock", MAIN, ...args] : [MAIN, ...args];
}

function wal(runtime: Runtime, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(runtimeBinary(runtime), command(runtime, args), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.setEncoding("utf8");
    proc.stderr.setEncoding("utf8");
    proc.stdout.on("data", (c: string) => (stdout += c));
    proc.stderr.on("data", (c: string) => (stderr += c));
    proc.on("error", reject);
    proc.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A clean log of several small segments: text, bytes, a batch, a checkpoint, control characters, a long value. */
async function cleanLog(dir: string): Promise<WalRecord[]> {
  const log = await WriteAheadLog.open(dir, { maxFileSize: 150 });
  await log.append("PUT", "user:1", "alice");
  await log.append("PUT", "bin", new Uint8Array([0, 1, 2, 254, 255]));
  await log.appendBatch([["PUT", "a", "line1\nline2"], ["DELETE", "b"]]);
  await log.checkpoint();
  await log.append("app.event", "long", "x".repeat(200));
  for (let i = 0; i < 10; i++) await log.append("PUT", `k${i}`, `value ${i}`);
  const all: WalRecord[] = [];
  for await (const r of log.iterate()) all.push(r);
  await log.close();
  return all;
}

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to);
  for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name));
}

function snapshot(dir: string): string {
  return fs.readdirSync(dir).sort().map((n) => `${n}:${fs.readFileSync(path.join(dir, n)).toString("base64")}`).join("\n");
}

function fromJson(line: string): WalRecord {
  const o = JSON.parse(line) as { seq: number; op: string; key: string; value: string; encoding: string };
  const value = o.encoding === "base64" ? new Uint8Array(Buffer.from(o.value, "base64")) : o.value;
  return { seqNum: o.seq, opType: o.op, key: o.key, value };
}

const base = tempDir("wal-cli-");
const clean = path.join(base, "clean");
const torn = path.join(base, "torn");
const middle = path.join(base, "middle");
const forged = path.join(base, "forged");
let records: WalRecord[] = [];
const ready = (async () => {
  fs.mkdirSync(clean);
  records = await cleanLog(clean);
  copyDir(clean, torn);
  const segs = segmentFiles(torn);
  const newest = segs[segs.length - 1];
  fs.truncateSync(newest, fs.statSync(newest).size - 3);
  copyDir(clean, middle);
  const victim = segmentFiles(middle)[1];
  const bytes = fs.readFileSync(victim);
  bytes[bytes.length - 2] ^= 0x55;
  fs.writeFileSync(victim, bytes);
  // The same damage under a seal rewritten to vouch for it: only a record-by-record check sees it.
  copyDir(middle, forged);
  const forgedVictim = segmentFiles(forged)[1];
  const sealFile = forgedVictim.replace(/\.wal$/, ".seal");
  const seal = decodeSeal(new Uint8Array(fs.readFileSync(sealFile)));
  assert.ok(seal !== null, "the writer sealed the segment");
  fs.writeFileSync(sealFile, encodeSeal({ ...seal, segmentCrc: crc32(new Uint8Array(fs.readFileSync(forgedVictim))) }));
})();

for (const rt of RUNTIMES) {
  test(`wal on ${rt}: stats, verify, dump, tail on a clean log; nothing written`, async () => {
    await ready;
    const before = snapshot(clean);
    const [stats, statsJson, verify, dump, json, range, tail, help, dumpHelp] = await Promise.all([
      wal(rt, ["stats", clean]),
      wal(rt, ["stats", clean, "--json"]),
      wal(rt, ["verify", clean]),
      wal(rt, ["dump", clean]),
      wal(rt, ["dump", clean, "--json"]),
      wal(rt, ["dump", clean, "--from", "3", "--to", "6", "--json"]),
      wal(rt, ["tail", clean, "-n", "3", "--json"]),
      wal(rt, ["--help"]),
      wal(rt, ["dump", "--help"]),
    ]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /^records +17$/m);
    assert.match(stats.stdout, /^seq range +1\.\.17$/m);
    assert.match(stats.stdout, /^batches +1$/m);
    assert.match(stats.stdout, /^damage +none$/m);
    const s = JSON.parse(statsJson.stdout);
    assert.equal(s.segments, segmentFiles(clean).length);
    assert.ok(s.segments > 3);
    assert.deepEqual(s.byKind, { PUT: 13, "app.event": 1, DELETE: 1, COMMIT: 1, CHECKPOINT: 1 });
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^ok: \d+ segments, .* verified, last seq 17$/m);
    // The table: one line per record, control characters escaped, bytes in hex, long values cut.
    assert.equal(dump.code, 0, dump.stderr);
    const rows = dump.stdout.trimEnd().split("\n");
    assert.equal(rows.length, 1 + 17);
    assert.match(rows[2], /^ +2 +PUT +bin +hex:000102feff$/);
    assert.match(rows[3], /line1\\nline2$/);
    assert.match(rows[7], /x{64}… \(200 chars\)$/);
    assert.deepEqual(json.stdout.trimEnd().split("\n").map(fromJson), records);
    assert.deepEqual(range.stdout.trimEnd().split("\n").map(fromJson), records.slice(2, 6));
    assert.deepEqual(tail.stdout.trimEnd().split("\n").map(fromJson), records.slice(-3));
    assert.equal(help.code, 0);
    assert.match(help.stdout, /wal verify DIR/);
    assert.match(dumpHelp.stdout, /^Usage: wal dump DIR/);
    assert.equal(snapshot(clean), before);
  });

  test(`wal on ${rt}: torn tail and damaged middle are found (exit 1) and left as they are; usage errors exit 2`, async () => {
    await ready;
    const beforeTorn = snapshot(torn);
    const beforeMiddle = snapshot(middle);
    const [t, m, f, mDump, missing, bad, unknown] = await Promise.all([
      wal(rt, ["verify", torn]),
      wal(rt, ["verify", middle]),
      wal(rt, ["verify", forged]),
      wal(rt, ["dump", middle, "--json"]),
      wal(rt, ["verify", path.join(base, "missing")]),
      wal(rt, ["dump", clean, "--from", "x"]),
      wal(rt, ["frobnicate"]),
    ]);
    assert.equal(t.code, 1, t.stdout + t.stderr);
    const tornFile = fs.realpathSync(segmentFiles(torn).at(-1)!);
    assert.match(t.stdout, new RegExp(`^DAMAGE ${tornFile} at offset \\d+ \\(expected seq 17\\): .*torn tail`, "m"));
    assert.equal(m.code, 1, m.stdout + m.stderr);
    const victim = fs.realpathSync(segmentFiles(middle)[1]);
    assert.match(m.stdout, new RegExp(`^DAMAGE ${victim} at offset \\d+ \\(expected seq \\d+\\): .*checksum.*crash cannot explain`, "m"));
    assert.match(m.stdout, /^open would quarantined-segment /m);
    // verify trusts no seal.
    assert.equal(f.code, 1, f.stdout + f.stderr);
    const forgedVictim = fs.realpathSync(segmentFiles(forged)[1]);
    assert.match(f.stdout, new RegExp(`^DAMAGE ${forgedVictim} at offset \\d+ \\(expected seq \\d+\\): .*checksum`, "m"));
    // dump reads the valid prefix only, and says where it ends.
    const kept = mDump.stdout.trimEnd().split("\n").map(fromJson);
    assert.ok(kept.length > 0 && kept.length < records.length);
    assert.deepEqual(kept, records.slice(0, kept.length));
    assert.match(mDump.stderr, /the valid log ends at seq/);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such directory/);
    assert.equal(fs.existsSync(path.join(base, "missing")), false);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--from must be a seq/);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    assert.equal(snapshot(torn), beforeTorn);
    assert.equal(snapshot(middle), beforeMiddle);
  });

  test(`wal on ${rt}: verify and tail -f beside a live writer process`, async () => {
    await ready;
    const dir = tempDir("wal-cli-live-");
    const writer = startWriter(rt, dir);
    let follower: ReturnType<typeof spawn> | undefined;
    try {
      await writer.ready;
      const acked = await writer.acked(20);
      const verify = await wal(rt, ["verify", dir]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      const last = Number(/last seq (\d+)/.exec(verify.stdout)?.[1]);
      assert.ok(last >= acked, `verify read up to ${last}, the writer had acknowledged ${acked}`);
      // tail -f: follows the writer; every line is a record in order, with the bytes the writer wrote.
      follower = spawn(runtimeBinary(rt), command(rt, ["tail", dir, "-n", "5", "-f", "--poll", "50", "--json"]), {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      follower.stdout!.setEncoding("utf8");
      follower.stdout!.on("data", (c: string) => (out += c));
      const target = await writer.acked(200);
      const deadline = Date.now() + 20_000;
      // Only whole lines: the last one may still be arriving.
      const complete = () => out.slice(0, out.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "").map(fromJson);
      const seqs = () => complete().map((r) => r.seqNum);
      while ((seqs().at(-1) ?? 0) < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const lines = complete();
      assert.ok((lines.at(-1)?.seqNum ?? 0) >= target, `tail -f reached ${lines.at(-1)?.seqNum}, acknowledged ${target}`);
      for (let i = 1; i < lines.length; i++) assert.equal(lines[i].seqNum, lines[i - 1].seqNum + 1);
      for (const r of lines) {
        if (r.opType === "COMMIT" || r.opType === "CHECKPOINT") continue;
        assert.equal(r.opType, payloadFor(r.key).opType);
        assert.deepEqual(r.value, payloadFor(r.key).expected);
      }
    } finally {
      follower?.kill("SIGKILL");
      await writer.stop();
      removeDir(dir);
    }
  });
}

test("wal CLI: temporary logs removed", async () => {
  await ready;
  removeDir(base);
});
