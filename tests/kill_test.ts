// Killed-process test (issue 3): a child writer on Deno, Bun and Node is SIGKILLed at random moments, again and
// again on the same directory; after each kill this process opens the log and checks that everything the child
// was told is durable is there, byte for byte, with no partial batch and no gap, and that the log still works.
//
// WAL_KILLS sets the kills per runtime (default 4, to keep `npm test` quick); WAL_KILL_SEED repeats the moments.
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { WriteAheadLog } from "../mod.ts";
import type { WalRecord } from "../mod.ts";
import { appendKey, batchKey, payloadFor, prng, spawnChild } from "./fixtures/child_writer.ts";
import type { Runtime } from "./fixtures/child_writer.ts";
import { removeDir, tempDir } from "./helpers.ts";

const KILLS = readKills();
const SEED = readSeed();
/** The child's own bound: it closes the log and exits by itself if no kill ever comes. */
const CHILD_MAX_MS = 20_000;

console.log(`kill_test: ${KILLS} kills per runtime, seed ${SEED} (set WAL_KILLS / WAL_KILL_SEED to change)`);

function readKills(): number {
  const text = process.env.WAL_KILLS;
  if (text === undefined || text === "") return 4;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`WAL_KILLS must be a positive integer, not "${text}"`);
  return n;
}

function readSeed(): number {
  const text = process.env.WAL_KILL_SEED;
  if (text === undefined || text === "") return Math.floor(Math.random() * 2 ** 32);
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new Error(`WAL_KILL_SEED must be a uint32, not "${text}"`);
  return n;
}

/** What the children printed: seqs they were told are durable. */
interface Expected {
  /** seq -> key of every acknowledged standalone record and batch member. */
  keys: Map<number, string>;
  /** COMMIT seqs of acknowledged batches. */
  commits: Set<number>;
  /** A `truncateAfter(n)` the child began and was killed in: the log is as before it or as after it. */
  pendingCut?: number;
}

/** Forgets what a truncateAfter(n) removed. */
function cutExpected(expected: Expected, n: number): void {
  for (const seq of expected.keys.keys()) if (seq > n) expected.keys.delete(seq);
  for (const seq of expected.commits) if (seq > n) expected.commits.delete(seq);
}

/** Adds a child's complete output lines to `expected`; returns how many appends and batches they reported. */
function readOutput(stdout: string, expected: Expected): { appends: number; batches: number; cuts: number } {
  const lines = stdout.split("\n");
  // The last piece is cut off by the kill (or empty): a line counts only once its newline is out.
  lines.pop();
  let appends = 0;
  let batches = 0;
  let cuts = 0;
  expected.pendingCut = undefined;
  for (const line of lines) {
    const words = line.split(" ");
    if (words[0] === "ready") continue;
    if (words[0] === "t" && words.length === 2) {
      expected.pendingCut = Number(words[1]);
      continue;
    }
    if (words[0] === "T" && words.length === 2) {
      assert.equal(Number(words[1]), expected.pendingCut, `"T" without its "t": ${line}`);
      expected.pendingCut = undefined;
      cutExpected(expected, Number(words[1]));
      cuts++;
      continue;
    }
    if (words[0] === "A" && words.length === 3) {
      expected.keys.set(Number(words[1]), words[2]);
      appends++;
    } else if (words[0] === "B" && words.length >= 3) {
      expected.commits.add(Number(words[1]));
      for (const member of words.slice(2)) {
        const colon = member.indexOf(":");
        expected.keys.set(Number(member.slice(0, colon)), member.slice(colon + 1));
      }
      batches++;
    } else {
      throw new Error(`unexpected line from the child: ${JSON.stringify(line)}`);
    }
  }
  return { appends, batches, cuts };
}

function sameValue(actual: string | Uint8Array, expected: string | Uint8Array): boolean {
  if (typeof expected === "string") return actual === expected;
  if (!(actual instanceof Uint8Array) || actual.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) return false;
  return true;
}

const BATCH_KEY = /^b\.([^.]+\.\d+)\.(\d+)\.(\d+)$/;

/**
 * Everything wrong with a recovered log: `all` is `iterate()` (COMMITs included), `committed` is `replay()`.
 * Pure, so that the test below can show it catches each kind of damage.
 */
function checkLog(all: WalRecord[], committed: WalRecord[], expected: Expected): string[] {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
  };
  for (let i = 0; i < all.length; i++) {
    if (all[i].seqNum !== i + 1) {
      note(`seqs not contiguous from 1: record ${i} has seq ${all[i].seqNum}`);
      break;
    }
  }
  // Batch members on disk must run complete, in order, straight into their COMMIT.
  let open: { id: string; size: number; next: number } | null = null;
  const data: WalRecord[] = [];
  for (const r of all) {
    if (r.opType === "COMMIT") {
      if (open === null || open.next !== open.size) note(`COMMIT at seq ${r.seqNum} closes no complete batch`);
      open = null;
      continue;
    }
    if (r.opType === "CHECKPOINT") {
      note(`unexpected CHECKPOINT at seq ${r.seqNum}`);
      continue;
    }
    data.push(r);
    const p = payloadFor(r.key);
    if (r.opType !== p.opType || !sameValue(r.value, p.expected)) {
      note(`seq ${r.seqNum} (${r.key}): stored ${r.opType} value differs from the one appended`);
    }
    const m = BATCH_KEY.exec(r.key);
    if (m === null) {
      if (open !== null) note(`batch ${open.id} has no COMMIT: seq ${r.seqNum} follows its member ${open.next - 1}`);
      open = null;
      continue;
    }
    const [id, index, size] = [m[1], Number(m[2]), Number(m[3])];
    if (open !== null && (open.id !== id || open.next !== index)) {
      note(`batch ${open.id} has no COMMIT: seq ${r.seqNum} (${r.key}) follows its member ${open.next - 1}`);
      open = null;
    }
    if (open === null) {
      if (index !== 0) note(`seq ${r.seqNum} (${r.key}): batch member without the members before it`);
      open = { id, size, next: index + 1 };
    } else {
      open.next++;
    }
  }
  if (open !== null) note(`batch ${open.id} has no COMMIT at the end of the log`);
  // replay() must return exactly the committed data records, as iterate() stores them.
  if (committed.length !== data.length) {
    note(`replay() returned ${committed.length} records, the log holds ${data.length} committed data records`);
  }
  for (let i = 0; i < Math.min(committed.length, data.length); i++) {
    const c = committed[i];
    if (c.seqNum !== data[i].seqNum || c.key !== data[i].key || !sameValue(c.value, data[i].value)) {
      note(`replay() record ${i} (seq ${c.seqNum}, ${c.key}) differs from the stored seq ${data[i].seqNum}`);
      break;
    }
  }
  for (const [seq, key] of expected.keys) {
    const r = all[seq - 1];
    if (r === undefined || r.seqNum !== seq || r.key !== key) {
      note(`acknowledged seq ${seq} (${key}) is ${r === undefined ? "lost" : `now ${r.seqNum} ${r.key}`}`);
    }
  }
  for (const seq of expected.commits) {
    if (all[seq - 1]?.opType !== "COMMIT") note(`acknowledged batch COMMIT at seq ${seq} is missing`);
  }
  return problems;
}

async function readAll(wal: WriteAheadLog): Promise<{ all: WalRecord[]; committed: WalRecord[] }> {
  const all: WalRecord[] = [];
  for await (const r of wal.iterate()) all.push(r);
  return { all, committed: await wal.replay() };
}

async function appendFor(wal: WriteAheadLog, key: string): Promise<number> {
  const p = payloadFor(key);
  return p.value === undefined ? await wal.append(p.opType, key) : await wal.append(p.opType, key, p.value);
}

test("the checker catches each kind of damage it looks for", async () => {
  const dir = tempDir("wal-kill-check-");
  try {
    const wal = await WriteAheadLog.open(dir);
    const expected: Expected = { keys: new Map(), commits: new Set() };
    for (let n = 0; n < 3; n++) expected.keys.set(await appendFor(wal, appendKey("self", n)), appendKey("self", n));
    const members = [0, 1, 2].map((i) => batchKey("self", 3, i, 3));
    const ops = members.map((key) => {
      const p = payloadFor(key);
      return { opType: p.opType, key, value: p.value };
    });
    const commit = await wal.appendBatch(ops);
    expected.commits.add(commit);
    members.forEach((key, i) => expected.keys.set(commit - 3 + i, key));
    expected.keys.set(await appendFor(wal, appendKey("self", 4)), appendKey("self", 4));
    const { all, committed } = await readAll(wal);
    await wal.close();
    assert.deepEqual(checkLog(all, committed, expected), []);
    assert.equal(all.length, 8);

    const without = (records: WalRecord[], seq: number) => records.filter((r) => r.seqNum !== seq);
    const expectProblem = (a: WalRecord[], c: WalRecord[], pattern: RegExp) => {
      const problems = checkLog(a, c, expected);
      assert.ok(problems.some((p) => pattern.test(p)), `expected ${pattern} among ${JSON.stringify(problems)}`);
    };
    // A lost acknowledged record (and the gap it leaves).
    expectProblem(without(all, 2), without(committed, 2), /acknowledged seq 2 .* is now 3/);
    expectProblem(without(all, 2), without(committed, 2), /not contiguous/);
    // The tail cut too far.
    expectProblem(all.slice(0, 7), committed.slice(0, 5), /acknowledged seq 8 .* is lost/);
    // One flipped byte, in a string and in a byte value; and a string read back as bytes.
    const changed = (r: WalRecord): WalRecord => {
      if (typeof r.value === "string") return { ...r, value: r.value + "x" };
      const copy = r.value.slice();
      if (copy.length === 0) return { ...r, value: "" };
      copy[copy.length - 1] ^= 1;
      return { ...r, value: copy };
    };
    for (const seq of [1, 2, 3, 4, 5, 6]) {
      expectProblem(all.map((r) => r.seqNum === seq ? changed(r) : r), committed, /value differs/);
    }
    // A batch whose COMMIT is gone but whose members stayed: on disk, and leaking through replay.
    expectProblem(without(all, 7), committed, /batch self\.3 has no COMMIT/);
    expectProblem(without(all, 7), committed, /acknowledged batch COMMIT at seq 7 is missing/);
    expectProblem(all.slice(0, 6), committed.slice(0, 6), /batch self\.3 has no COMMIT at the end/);
    // A batch missing its last member, or one in the middle.
    expectProblem(without(all, 6), without(committed, 6), /COMMIT at seq 7 closes no complete batch/);
    expectProblem(without(all, 5), without(committed, 5), /seq 6 .* batch member without the members before it/);
    // replay() hiding a committed record, or returning a different one.
    expectProblem(all, without(committed, 4), /replay\(\) returned 6 records/);
    expectProblem(all, committed.map((r) => r.seqNum === 4 ? changed(r) : r), /replay\(\) record 3/);
  } finally {
    removeDir(dir);
  }
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const RUNTIMES: Runtime[] = ["deno", "bun", "node"];

for (const [index, runtime] of RUNTIMES.entries()) {
  test(`a ${runtime} child writer SIGKILLed at random moments loses nothing it acknowledged`, {
    // Bun's runner gives a test 5 s unless told otherwise; this bound only stops a hang, it checks nothing.
    timeout: 120_000 + KILLS * 10_000,
  }, async () => {
    const dir = tempDir(`wal-kill-${runtime}-`);
    const rand = prng((SEED + index * 0x9e3779b9) >>> 0);
    const expected: Expected = { keys: new Map(), commits: new Set() };
    let appends = 0;
    let batches = 0;
    let records = 0;
    let cuts = 0;
    let truncations = 0;
    let killedInCut = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const gen = `${runtime}${kill}`;
      const childSeed = Math.floor(rand() * 2 ** 32);
      // Sometimes right after open, mostly somewhere in the stream of appends.
      const r = rand();
      const delay = r < 0.1 ? 0 : Math.floor(5 + rand() * 200);
      const where = `${runtime} kill ${kill + 1}/${KILLS} (seed ${SEED}, delay ${delay} ms, dir ${dir})`;
      const child = spawnChild(runtime, ["write-cut", dir, gen, String(childSeed), String(CHILD_MAX_MS)]);
      try {
        const printedPid = await child.ready;
        assert.equal(printedPid, child.pid, `${where}: the child's pid is the spawned process's`);
        await sleep(delay);
      } finally {
        child.kill();
      }
      const end = await child.exited;
      assert.equal(end.signal, "SIGKILL", `${where}: the child ended by itself (code ${end.code}): ${end.stderr}`);
      const printed = readOutput(end.stdout, expected);
      appends += printed.appends;
      batches += printed.batches;
      truncations += printed.cuts;

      // strict: a kill leaves at most a torn tail and preallocated zeros; any other damage must make open fail here.
      const wal = await WriteAheadLog.open(dir, { syncMode: "sync", recovery: "strict" });
      try {
        for (const action of wal.recovery.actions) {
          assert.ok(
            action.action === "cut-tail" || action.action === "cut-zeros" || action.action === "removed-temp-file" ||
              (action.action === "finished-truncate" && expected.pendingCut !== undefined),
            `${where}: a kill cannot explain recovery action ${JSON.stringify(action)}`,
          );
        }
        if (wal.recovery.actions.some((a) => a.action === "cut-tail")) cuts++;
        const { all, committed } = await readAll(wal);
        if (expected.pendingCut !== undefined) {
          // Killed inside truncateAfter(n): the log ends where it did before the cut, or at n exactly.
          killedInCut++;
          if (all.length === expected.pendingCut) cutExpected(expected, expected.pendingCut);
          expected.pendingCut = undefined;
        }
        assert.deepEqual(checkLog(all, committed, expected), [], where);
        records = all.length;
        // The log keeps working: numbering resumes right after the last record, and the new record reads back.
        const key = appendKey(`${gen}t`, 0);
        const seq = await appendFor(wal, key);
        assert.equal(seq, all.length + 1, `${where}: the first append after recovery`);
        const after = await wal.replay({ afterSeq: seq - 1 });
        assert.equal(after.length, 1, where);
        assert.equal(after[0].key, key, where);
        assert.ok(sameValue(after[0].value, payloadFor(key).expected), `${where}: the new record's value`);
        expected.keys.set(seq, key);
      } finally {
        await wal.close();
      }
    }
    console.log(
      `kill_test ${runtime}: ${KILLS} kills, ${appends} appends and ${batches} batches acknowledged, ${truncations} truncateAfter calls ` +
        `(${killedInCut} kills inside one), ${records} records, ${cuts} torn tails cut`,
    );
    // Kills that all landed before the first acknowledgement would check nothing.
    assert.ok(appends > 0 && batches > 0, `${runtime}: no kill landed among acknowledged appends and batches`);
    // Only on success: a failing run keeps its directory (named in the message) for inspection.
    removeDir(dir);
  });
}
