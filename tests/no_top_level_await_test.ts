// require() of an ES module fails when its graph has top-level await (ERR_REQUIRE_ASYNC_MODULE on Node, an
// error on Bun): the library's graph must have none. A lexical scan, so that it runs the same on every runtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

test("no top-level await anywhere in the library's module graph (require() of the package needs that)", () => {
  const files = [
    "mod.ts",
    ...fs.readdirSync(path.join(root, "src"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts")).map((f) => path.join("src", f)),
  ];
  const offenders: string[] = [];
  for (const file of files) {
    const lines = fs.readFileSync(path.join(root, file), "utf8").split("\n");
    let depth = 0;
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "").replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""');
      if (depth === 0 && /\bawait\b/.test(code) && !/^\s*\*/.test(line)) {
        offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      }
      for (const ch of code) depth += ch === "{" ? 1 : ch === "}" ? -1 : 0;
    });
  }
  assert.deepEqual(offenders, []);
});
