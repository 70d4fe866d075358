/**
 * The HTTP event store of `examples/event_store` under load: autocannon at 256 connections POSTing 128-byte
 * events, against the server on the log, on SQLite and on lmdb, on each runtime. Runs inside `main.ts` (Node).
 *
 * @module
 */

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** One server under load. */
export interface HttpRow {
  runtime: string;
  store: string;
  requestsPerSec: number;
  p99Ms: number;
  errors: number;
  unavailable?: string;
}

interface AutocannonResult {
  requests: { average: number };
  latency: { p99: number };
  errors: number;
  non2xx: number;
}

type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

function startServer(cmd: string, args: string[], cwd: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("the server did not start within 30 s"));
    }, 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}`));
    });
  });
}

function stopServer(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.removeAllListeners("exit");
    child.on("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Loads each store's server on `runtime` and loads it with autocannon; `seconds` per run. */
export async function httpRows(repo: string, runtime: string, workDir: string, seconds: number): Promise<HttpRow[]> {
  const spec = "autocannon";
  let autocannon: Autocannon;
  try {
    const m = (await import(spec)) as { default: Autocannon };
    autocannon = m.default;
  } catch (e) {
    return [{ runtime, store: "all", requestsPerSec: 0, p99Ms: 0, errors: 0, unavailable: `autocannon: ${e}` }];
  }
  const rows: HttpRow[] = [];
  const bin = path.join(repo, "node_modules", ".bin", runtime);
  const script = path.join(repo, "examples", "event_store", "server.ts");
  const body = JSON.stringify({ type: "clicked", user: "u-000042", payload: "x".repeat(70) });
  for (const store of ["wal", "sqlite", "lmdb"]) {
    const dir = path.join(workDir, `http-${runtime}-${store}`);
    fs.rmSync(dir, { recursive: true, force: true });
    const args = [script, "--dir", dir, "--port", "0", "--store", store];
    const argv = runtime === "deno" ? ["run", "-A", `--config=${path.join(repo, "deno.json")}`, ...args] : args;
    let child: ChildProcess | undefined;
    try {
      const started = await startServer(bin, argv, repo);
      child = started.child;
      const r = await autocannon({
        url: `http://127.0.0.1:${started.port}/events`,
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        connections: 256,
        duration: seconds,
      });
      rows.push({ runtime, store, requestsPerSec: r.requests.average, p99Ms: r.latency.p99, errors: r.errors + r.non2xx });
    } catch (e) {
      rows.push({ runtime, store, requestsPerSec: 0, p99Ms: 0, errors: 0, unavailable: String((e as Error).message ?? e) });
    } finally {
      if (child !== undefined) await stopServer(child);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

/** A plain-text table of the HTTP rows. */
export function httpTable(rows: readonly HttpRow[]): string {
  const lines = ["== HTTP event store (examples/event_store), autocannon, 256 connections, POST 128 B events"];
  lines.push(`${"runtime".padEnd(8)} ${"store".padEnd(8)} ${"requests/s".padStart(11)} ${"p99 ms".padStart(8)} errors`);
  for (const r of rows) {
    if (r.unavailable !== undefined) lines.push(`${r.runtime.padEnd(8)} ${r.store.padEnd(8)} n/a (${r.unavailable})`);
    else {
      lines.push(
        `${r.runtime.padEnd(8)} ${r.store.padEnd(8)} ${Math.round(r.requestsPerSec).toLocaleString("en-US").padStart(11)} ${
          r.p99Ms.toFixed(0).padStart(8)
        } ${r.errors}`,
      );
    }
  }
  return lines.join("\n");
}
