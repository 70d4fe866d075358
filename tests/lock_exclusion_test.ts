// The directory lock excludes every other writer: worker threads of this process, processes in other PID
// namespaces (containers sharing a volume), other paths to the same directory; a dead owner's lock is taken over
// without manual steps, whatever the LOCK file says; a failed open never harms another handle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { WalCorruptionError, WalFormatError, WalLockedError, WriteAheadLog } from "../mod.ts";
import { runtimeBinary, spawnChild } from "./fixtures/child_writer.ts";
import type { WorkerReply, WorkerRequest } from "./fixtures/lock_child.ts";
import { runtimeName, segmentFiles, withTempDir } from "./helpers.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/lock_child.ts", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
/** A holding child's own bound: it lets go by itself if the test never kills it. */
const CHILD_MAX_MS = 20_000;

function lockText(dir: string): string {
  return fs.readFileSync(path.join(dir, "LOCK"), "utf8").trim();
}

function isLocked(pid: number) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof WalLockedError, `expected WalLockedError, got ${e}`);
    assert.equal(e.pid, pid);
    return true;
  };
}

/** A worker thread running the lock fixture; `ask` sends one request and waits for its reply. */
class LockWorker {
  #worker = new Worker(new URL("./fixtures/lock_child.ts", import.meta.url));
  ask(request: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.#worker.once("error", onError);
      this.#worker.once("message", (reply: WorkerReply) => {
        this.#worker.off("error", onError);
        resolve(reply);
      });
      this.#worker.postMessage(request);
    });
  }
  async stop(): Promise<void> {
    await this.#worker.terminate();
  }
}

async function withWorker(fn: (worker: LockWorker) => Promise<void>): Promise<void> {
  const worker = new LockWorker();
  try {
    await fn(worker);
  } finally {
    await worker.stop();
  }
}

function runtimeArgs(): string[] {
  return runtimeName() === "deno"
    ? ["run", "--allow-read", "--allow-write", "--no-prompt", "--no-lock", FIXTURE]
    : [FIXTURE];
}

/** A child running the fixture, optionally under a prefix command (`unshare ...`). */
function spawnFixture(args: string[], prefix: string[] = []) {
  const binary = runtimeBinary(runtimeName());
  const [command, ...rest] = [...prefix, binary, ...runtimeArgs(), ...args];
  const proc = spawn(command, rest, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  proc.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      proc.on("error", reject);
      proc.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
  const ready = new Promise<number>((resolve, reject) => {
    proc.stdout.on("data", () => {
      const m = /^ready (\d+)\n/.exec(stdout);
      if (m !== null) resolve(Number(m[1]));
    });
    exited.then((end) => reject(new Error(`child ended before "ready": ${JSON.stringify(end)}`)), reject);
  });
  ready.catch(() => {});
  exited.catch(() => {});
  return { proc, ready, exited };
}

/** Runs `try <dir>` in a child and returns its one-line verdict: `opened <seq>`, `locked <pid>` or `error ...`. */
async function tryInChild(dir: string, prefix: string[] = []): Promise<string> {
  const end = await spawnFixture(["try", dir], prefix).exited;
  assert.equal(end.code, 0, `the try child failed: ${end.stderr}`);
  return end.stdout.trim();
}

/** Why `unshare --pid --fork` cannot run here, or null if it can. */
function unshareUnavailable(): string | null {
  const r = spawnSync("unshare", ["--pid", "--fork", "true"], { encoding: "utf8" });
  if (r.error !== undefined) return `unshare cannot be run (${r.error.message})`;
  if (r.status !== 0) return `unshare --pid --fork failed (needs root or user namespaces): ${r.stderr.trim()}`;
  return null;
}

test("two worker threads on one directory: the second is refused; once the first closes, it opens", async () => {
  await withTempDir(async (dir) => {
    await withWorker(async (first) => {
      await withWorker(async (second) => {
        assert.deepEqual(await first.ask({ op: "open", dir }), { ok: true, value: 0 });
        const refused = await second.ask({ op: "open", dir });
        assert.equal(refused.ok, false, "the second worker thread opened a directory the first one holds");
        assert.ok(!refused.ok && refused.name === "WalLockedError", JSON.stringify(refused));
        assert.ok(!refused.ok && refused.pid === process.pid && /this process/.test(refused.message));
        // The main thread is refused as well: the worker holds the directory, not this thread.
        await assert.rejects(WriteAheadLog.open(dir), isLocked(process.pid));
        assert.deepEqual(await first.ask({ op: "append" }), { ok: true, value: 1 });
        assert.deepEqual(await first.ask({ op: "close" }), { ok: true });
        assert.deepEqual(await second.ask({ op: "open", dir }), { ok: true, value: 1 });
        assert.deepEqual(await second.ask({ op: "append" }), { ok: true, value: 2 });
        assert.deepEqual(await second.ask({ op: "close" }), { ok: true });
      });
    });
    const wal = await WriteAheadLog.open(dir);
    assert.deepEqual((await wal.replay()).map((r) => r.seqNum), [1, 2]);
    await wal.close();
  });
});

test("processes in separate PID namespaces with the same pid exclude each other; a killed one is taken over", {
  timeout: 60_000,
}, async (t) => {
  const why = unshareUnavailable();
  if (why !== null) {
    console.log(`# skipped: ${why}`);
    t.skip(why);
    return;
  }
  await withTempDir(async (dir) => {
    // --kill-child: SIGKILL to unshare reaches its child, the namespace's pid 1, as a container stop would.
    const prefix = ["unshare", "--pid", "--fork", "--kill-child"];
    const holder = spawnFixture(["hold", dir, String(CHILD_MAX_MS)], prefix);
    try {
      const pid = await holder.ready;
      assert.equal(pid, 1, "the holder is pid 1 of its own namespace");
      assert.equal(lockText(dir), "1");
      // A second "container": its writer is pid 1 too, so a pid in LOCK cannot tell the two apart.
      assert.equal(await tryInChild(dir, prefix), "locked 1");
      // From this namespace, pid 1 is a live unrelated process (init): the lock must still refuse on the lock.
      await assert.rejects(WriteAheadLog.open(dir), isLocked(1));
    } finally {
      holder.proc.kill("SIGKILL");
    }
    const end = await holder.exited;
    assert.equal(end.signal, "SIGKILL", `the holder ended by itself: ${end.stderr}`);
    // LOCK still names pid 1, which is alive here: the dead holder's lock is taken over all the same.
    assert.equal(lockText(dir), "1");
    assert.equal(await tryInChild(dir, prefix), "opened 2");
    const wal = await WriteAheadLog.open(dir);
    assert.deepEqual((await wal.replay()).map((r) => r.key), ["held"]);
    await wal.close();
  });
});

test("a symlinked second path is the same lock for another thread and another process", { timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const logDir = path.join(dir, "log");
    const link = path.join(dir, "link");
    fs.mkdirSync(logDir);
    fs.symlinkSync(logDir, link);
    const wal = await WriteAheadLog.open(logDir);
    await withWorker(async (worker) => {
      const reply = await worker.ask({ op: "open", dir: link });
      assert.ok(!reply.ok && reply.name === "WalLockedError", `worker through the symlink: ${JSON.stringify(reply)}`);
    });
    assert.equal(await tryInChild(link), `locked ${process.pid}`);
    assert.equal(await wal.append("PUT", "a", "1"), 1);
    await wal.close();
    assert.equal(await tryInChild(link), "opened 2");
  });
});

test("a bind mount of the directory is the same lock", async (t) => {
  if (process.platform !== "linux") {
    console.log("# skipped: bind mounts are a Linux test here");
    t.skip("not Linux");
    return;
  }
  await withTempDir(async (dir) => {
    const logDir = path.join(dir, "log");
    const mirror = path.join(dir, "mirror");
    fs.mkdirSync(logDir);
    fs.mkdirSync(mirror);
    const mount = spawnSync("mount", ["--bind", logDir, mirror], { encoding: "utf8" });
    if (mount.error !== undefined || mount.status !== 0) {
      const why = `mount --bind is not allowed here (needs root): ${mount.error?.message ?? mount.stderr.trim()}`;
      console.log(`# skipped: ${why}`);
      t.skip(why);
      return;
    }
    try {
      const wal = await WriteAheadLog.open(logDir);
      assert.equal(await wal.append("PUT", "a", "1"), 1);
      // realpath cannot see that these are one directory; the kernel lock on the file can.
      await assert.rejects(WriteAheadLog.open(mirror), isLocked(process.pid));
      assert.equal(await wal.append("PUT", "b", "2"), 2);
      await wal.close();
      const again = await WriteAheadLog.open(mirror);
      assert.equal(await again.append("PUT", "c", "3"), 3);
      await again.close();
    } finally {
      spawnSync("umount", [mirror]);
    }
  });
});

test("a failed second open in this thread leaves the first handle working and holding the lock", async () => {
  await withTempDir(async (dir) => {
    const first = await WriteAheadLog.open(dir, { maxFileSize: 4096 });
    assert.equal(await first.append("PUT", "a", "1"), 1);
    // Refused before the lock is touched: a stray file.
    fs.writeFileSync(path.join(dir, "notes.txt"), "not a log file");
    await assert.rejects(WriteAheadLog.open(dir), (e: unknown) => e instanceof WalFormatError);
    fs.rmSync(path.join(dir, "notes.txt"));
    assert.equal(await first.append("PUT", "b", "2"), 2);
    // Refused after the lock is taken: strict mode meets a damaged older segment.
    for (let i = 0; i < 40; i++) await first.append("PUT", `pad${i}`, "x".repeat(200));
    const oldest = segmentFiles(dir)[0];
    assert.ok(segmentFiles(dir).length > 1, "the log must have an older segment");
    const intact = fs.readFileSync(oldest);
    const damaged = Buffer.from(intact);
    damaged[100] ^= 0xff;
    fs.writeFileSync(oldest, damaged);
    await assert.rejects(WriteAheadLog.open(dir, { recovery: "strict" }), (e: unknown) => e instanceof WalCorruptionError);
    fs.writeFileSync(oldest, intact);
    assert.equal(await first.append("PUT", "c", "3"), 43);
    assert.equal(lockText(dir), String(process.pid));
    assert.equal(await tryInChild(dir), `locked ${process.pid}`);
    await first.close();
    const wal = await WriteAheadLog.open(dir);
    assert.deepEqual((await wal.replay()).map((r) => r.key).filter((k) => !k.startsWith("pad")), ["a", "b", "c"]);
    await wal.close();
  });
});

test("close() of a superseded handle leaves the new handle's lock in force", async () => {
  await withTempDir(async (dir) => {
    const old = await WriteAheadLog.open(dir);
    const wal = await WriteAheadLog.open(dir);
    await old.close();
    await withWorker(async (worker) => {
      const reply = await worker.ask({ op: "open", dir });
      assert.ok(!reply.ok && reply.name === "WalLockedError", `worker after old.close(): ${JSON.stringify(reply)}`);
    });
    assert.equal(await tryInChild(dir), `locked ${process.pid}`);
    assert.equal(await wal.append("PUT", "a", "1"), 1);
    await wal.close();
    assert.equal(await tryInChild(dir), "opened 2");
  });
});

test("close() keeps the LOCK file: a locked file is never deleted", async () => {
  await withTempDir(async (dir) => {
    const wal = await WriteAheadLog.open(dir);
    await wal.close();
    assert.equal(lockText(dir), String(process.pid));
    const again = await WriteAheadLog.open(dir);
    await again.close();
  });
});

test("a LOCK naming a pid that cannot exist or a live unrelated process does not block the open", async () => {
  await withTempDir(async (dir) => {
    fs.writeFileSync(path.join(dir, "LOCK"), "99999999999");
    const wal = await WriteAheadLog.open(dir);
    assert.equal(lockText(dir), String(process.pid));
    await wal.close();

    // A live process that never opened the log: a pid reused after a reboot or a container restart.
    const sleeper = spawn(runtimeBinary("node"), ["-e", "setTimeout(() => {}, 20000)"], { stdio: "ignore" });
    try {
      assert.ok(sleeper.pid !== undefined);
      fs.writeFileSync(path.join(dir, "LOCK"), String(sleeper.pid));
      const reopened = await WriteAheadLog.open(dir);
      assert.equal(await reopened.append("PUT", "k", "v"), 1);
      await reopened.close();
    } finally {
      sleeper.kill("SIGKILL");
    }
  });
});

test("a holder whose LOCK is still empty (between creating it and writing the pid) is not taken for dead", {
  timeout: 60_000,
}, async () => {
  await withTempDir(async (dir) => {
    const holder = spawnFixture(["hold", dir, String(CHILD_MAX_MS)]);
    try {
      await holder.ready;
      fs.writeFileSync(path.join(dir, "LOCK"), "");
      await assert.rejects(WriteAheadLog.open(dir), (e: unknown) => {
        assert.ok(e instanceof WalLockedError, `expected WalLockedError, got ${e}`);
        assert.ok(Number.isNaN(e.pid));
        assert.match(e.message, /pid could not be read/);
        return true;
      });
    } finally {
      holder.proc.kill("SIGKILL");
    }
    await holder.exited;
    const wal = await WriteAheadLog.open(dir);
    assert.deepEqual((await wal.replay()).map((r) => r.key), ["held"]);
    await wal.close();
  });
});

test("Deno, Bun and Node take the same kernel lock: a holder of another runtime refuses this one", {
  timeout: 60_000,
}, async () => {
  for (const other of (["deno", "bun", "node"] as const).filter((r) => r !== runtimeName())) {
    await withTempDir(async (dir) => {
      const holder = spawnChild(other, ["hold", dir, String(CHILD_MAX_MS)]);
      try {
        const pid = await holder.ready;
        await assert.rejects(WriteAheadLog.open(dir), isLocked(pid), `held by a ${other} child`);
      } finally {
        holder.kill();
      }
      await holder.exited;
      const wal = await WriteAheadLog.open(dir);
      await wal.close();
    });
  }
});
