// A consumer's ES module: uses the installed package by its name. Run by tests/consumer.sh on Node 22, Node 24,
// Bun and Deno (through node_modules) as `use.mjs LABEL PROBE_NODE|-`, and as `use.mjs probe DIR` by Node 24 to
// check from another process that the directory is locked.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { WalError, WalInvalidArgumentError, WriteAheadLog } from "@wal/wal";

const [mode, arg] = process.argv.slice(2);

if (mode === "probe") {
  try {
    const wal = await WriteAheadLog.open(arg);
    await wal.close();
    console.log("opened: the directory was not locked");
  } catch (e) {
    console.log(e instanceof WalError ? e.code : String(e));
  }
} else {
  const label = mode;
  const dir = fs.mkdtempSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "log-"));
  const wal = await WriteAheadLog.open(dir, { syncMode: "sync" });
  await wal.append("PUT", "user:1", "alice");
  const commit = await wal.appendBatch([["PUT", "a", "1"], { opType: "PUT", key: "b", value: new Uint8Array([1, 2]) }]);
  // PROBE_NODE "-": no probe, for a run with only the permissions the library needs (Deno: read and write).
  const probe = arg === "-"
    ? { stdout: "WAL_LOCKED (not probed)", stderr: "" }
    : spawnSync(arg, [fileURLToPath(import.meta.url), "probe", dir], { encoding: "utf8" });
  let invalid = "";
  try {
    await wal.append("", "k");
  } catch (e) {
    invalid = e instanceof WalInvalidArgumentError ? e.code : String(e);
  }
  await wal.close();
  const reopened = await WriteAheadLog.open(dir);
  const records = await reopened.replay();
  await reopened.close();
  fs.rmSync(dir, { recursive: true });
  const got = JSON.stringify(
    records.map((r) => [r.seqNum, r.key, r.value instanceof Uint8Array ? [...r.value] : r.value]),
  );
  const want = JSON.stringify([[1, "user:1", "alice"], [2, "a", "1"], [3, "b", [1, 2]]]);
  const lock = probe.stdout.trim().replace(" (not probed)", "");
  if (commit !== 4 || got !== want || lock !== "WAL_LOCKED" || invalid !== "WAL_INVALID_ARGUMENT") {
    console.log(`${label}: FAIL commit=${commit} records=${got} lock=${lock || probe.stderr} invalid=${invalid}`);
    process.exit(1);
  }
  const locked = arg === "-" ? "" : "; another process got WAL_LOCKED while open";
  console.log(`${label}: ok (3 records replayed after reopen${locked})`);
}
