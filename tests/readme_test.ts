// The README's usage example runs as written (with its import pointed at this checkout's mod.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { removeDir, tempDir } from "./helpers.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

test("the README usage example runs and prints what its comments say", async () => {
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  const usage = readme.slice(readme.indexOf("## Usage"));
  const match = /```ts\n([\s\S]*?)```/.exec(usage);
  assert.ok(match, "README has a ts block under Usage");
  const modUrl = pathToFileURL(path.join(root, "mod.ts")).href;
  const code = match[1].replace(`from "./mod.ts"`, `from ${JSON.stringify(modUrl)}`);
  assert.notEqual(code, match[1], "the example imports ./mod.ts");
  const dir = tempDir("wal-readme-");
  const lines: unknown[][] = [];
  const original = console.log;
  try {
    const file = path.join(dir, "example.ts");
    fs.writeFileSync(file, code);
    console.log = (...args: unknown[]) => void lines.push(args);
    await import(pathToFileURL(file).href);
  } finally {
    console.log = original;
    removeDir(dir);
  }
  assert.deepEqual(lines[0], [[{ seqNum: 7, opType: "PUT", key: "user:2", value: "bob" }]]);
  assert.deepEqual(lines.slice(1).map((l) => l[0]), [1, 2, 3, 4, 7]);
});
