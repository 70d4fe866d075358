// A consumer's CommonJS module: require() of the installed package (an ES module without top-level await, which
// Node >= 22.12 and Bun load synchronously). Run as `use.cjs LABEL PROBE_NODE` by tests/consumer.sh.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { WalError, WriteAheadLog } = require("@wal/wal");

async function main() {
  const [label, probeNode] = process.argv.slice(2);
  const dir = fs.mkdtempSync(path.join(__dirname, "log-"));
  const wal = await WriteAheadLog.open(dir);
  await wal.append("PUT", "k", "v");
  const probe = spawnSync(probeNode, [path.join(__dirname, "use.mjs"), "probe", dir], { encoding: "utf8" });
  await wal.close();
  let closed = "";
  try {
    await wal.append("PUT", "k", "v");
  } catch (e) {
    closed = e instanceof WalError ? e.code : String(e);
  }
  const reopened = await WriteAheadLog.open(dir);
  const records = await reopened.replay();
  await reopened.close();
  fs.rmSync(dir, { recursive: true });
  const lock = probe.stdout.trim();
  if (records.length !== 1 || records[0].value !== "v" || lock !== "WAL_LOCKED" || closed !== "WAL_CLOSED") {
    console.log(`${label}: FAIL records=${JSON.stringify(records)} lock=${lock || probe.stderr} closed=${closed}`);
    process.exit(1);
  }
  console.log(`${label}: ok (require; 1 record replayed after reopen; another process got WAL_LOCKED while open)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
