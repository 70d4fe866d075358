// The README's usage example runs and prints what its comments say, here against this checkout's mod.ts (its
// package import and its working-directory temp dir pointed here); tests/consumer.sh runs it as written against
// the installed package on every runtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { removeDir, tempDir } from "./helpers.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");

function usageBlock(): string {
  const usage = readme.slice(readme.indexOf("## Usage"));
  const match = /```ts\n([\s\S]*?)```/.exec(usage);
  assert.ok(match, "README has a ts block under Usage");
  return match[1]!;
}

test("the README usage example runs and prints what its comments say", async () => {
  const block = usageBlock();
  const dir = tempDir("wal-readme-");
  const modUrl = pathToFileURL(path.join(root, "mod.ts")).href;
  const code = block
    .replace(`from "@wal/wal"`, `from ${JSON.stringify(modUrl)}`)
    .replace(`fs.mkdtempSync("wal-example-")`, `fs.mkdtempSync(${JSON.stringify(path.join(dir, "wal-example-"))})`);
  assert.ok(
    !code.includes("@wal/wal") && !code.includes(`mkdtempSync("wal-example-")`),
    "the example imports @wal/wal, makes a dir",
  );
  const lines: unknown[][] = [];
  const original = console.log;
  try {
    const file = path.join(dir, "example.ts");
    fs.writeFileSync(file, code);
    console.log = (...args: unknown[]) => void lines.push(args);
    await import(pathToFileURL(file).href);
    assert.deepEqual(fs.readdirSync(dir), ["example.ts"], "the example removes its directory");
  } finally {
    console.log = original;
    removeDir(dir);
  }
  assert.deepEqual(lines[0], [[{ seqNum: 7, opType: "PUT", key: "user:2", value: "bob" }]]);
  assert.deepEqual(lines.slice(1).map((l) => l[0]), [1, 2, 3, 4, 7]);
});

test("the README names the Deno permissions the example needs: read and write, no environment", () => {
  const commands = readme.match(/deno run (?:--allow-[a-z]+ )*example\.ts/g);
  assert.deepEqual(commands, ["deno run --allow-read --allow-write example.ts"]);
  assert.ok(!/os\.tmpdir|process\.env|Deno\.env/.test(usageBlock()), "the example reads no environment");
});

test("the README's install section names the package as package.json and deno.json do", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const deno = JSON.parse(fs.readFileSync(path.join(root, "deno.json"), "utf8"));
  assert.equal(deno.name, pkg.name);
  assert.equal(deno.version, pkg.version);
  const install = readme.slice(readme.indexOf("## Install"), readme.indexOf("## Usage"));
  for (const command of [`npm install ${pkg.name}`, `bun add ${pkg.name}`, `deno add jsr:${pkg.name}`]) {
    assert.ok(install.includes(command), command);
  }
  assert.ok(usageBlock().includes(`from "${pkg.name}"`));
});
