// The scenario launchers (issue 4). No PowerShell runs on the project's machines, so each run.ps1 is checked
// by parsing: it must take the same runtime argument as its run.sh, find the runtime in node_modules\.bin,
// give Deno the same permissions, print the same usage, and hand main.ts's exit code back.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const scenariosDir = path.join(root, "scenarios");

/** Every scenario: a directory of scenarios/ with a main.ts, as run-scenarios.sh discovers them. */
function scenarioNames(): string[] {
  return fs.readdirSync(scenariosDir)
    .filter((n) => fs.existsSync(path.join(scenariosDir, n, "main.ts")))
    .sort();
}

function read(...parts: string[]): string {
  return fs.readFileSync(path.join(root, ...parts), "utf8").replace(/\r\n/g, "\n");
}

/** The sorted `--allow-*` flag names a launcher gives Deno (values like `=$deno_exe` differ by shell). */
function denoPermissions(script: string): string[] {
  return [...new Set([...script.matchAll(/--allow-[a-z]+/g)].map((m) => m[0]))].sort();
}

/** The usage block: run.sh's heredoc, run.ps1's here-string. */
function usageOf(script: string, kind: "sh" | "ps1"): string {
  const m = kind === "sh" ? /<<'EOF'\n([\s\S]*?)\nEOF\n/.exec(script) : /@'\n([\s\S]*?)\n'@/.exec(script);
  assert.ok(m, `no usage block in the ${kind} launcher`);
  return m[1];
}

test("every scenario has main.ts, run.sh and run.ps1, and the four of issue 4 exist", () => {
  const names = scenarioNames();
  for (const required of ["normal", "crash-resume", "rotation", "corruption"]) {
    assert.ok(names.includes(required), `scenario ${required} is missing`);
  }
  for (const n of names) {
    for (const f of ["run.sh", "run.ps1"]) {
      assert.ok(fs.existsSync(path.join(scenariosDir, n, f)), `${n}/${f} is missing`);
    }
  }
});

for (const name of scenarioNames()) {
  test(`${name}/run.ps1: -Runtime deno|bun|node, node_modules\\.bin lookup, exit $LASTEXITCODE`, () => {
    const ps = read("scenarios", name, "run.ps1");
    const param = /^param\(([\s\S]*?)^\)/m.exec(ps);
    assert.ok(param, "no param( ... ) block at the start of a line");
    assert.match(
      param[1],
      /\[ValidateSet\('deno',\s*'bun',\s*'node'\)\]\s*\[string\]\$Runtime\s*=\s*'deno'/,
      "the -Runtime parameter must accept exactly deno, bun and node, default deno",
    );
    assert.doesNotMatch(
      ps.slice(0, param.index),
      /\[CmdletBinding/,
      "an advanced script would refuse main.ts's --options",
    );
    assert.match(ps, /\$ErrorActionPreference = 'Stop'/);
    assert.match(
      ps,
      /Join-Path \$root 'node_modules\\\.bin'/,
      "the runtime must be looked up in node_modules\\.bin first",
    );
    assert.match(ps, /"\$Runtime\.cmd"/, "npm's .cmd shims must be tried on Windows");
    assert.match(ps, /Get-Command \$Runtime/, "PATH must be the fallback");
    assert.match(ps, /\$PSScriptRoot/, "paths must not depend on the working directory");
    assert.match(ps, /&\s+\$exe\s+run\s[^\n]*\$main[^\n]*@args/, "deno must run main.ts with the remaining arguments");
    assert.match(ps, /&\s+\$exe\s+\$main[^\n]*@args/, "bun and node must run main.ts with the remaining arguments");
    const lines = ps.trim().split("\n");
    assert.equal(
      lines[lines.length - 1].trim(),
      "exit $LASTEXITCODE",
      "the last line must pass main.ts's exit code through",
    );
  });

  test(`${name}/run.sh mirrors run.ps1: same runtime argument, lookup, Deno permissions, usage, exit code`, () => {
    const sh = read("scenarios", name, "run.sh");
    const ps = read("scenarios", name, "run.ps1");
    assert.match(sh, /^#!\/usr\/bin\/env bash\n/);
    assert.match(sh, /^set -euo pipefail$/m);
    assert.match(sh, /^runtime=deno$/m, "the default runtime must be deno, as in run.ps1");
    assert.match(
      sh,
      /^\s*deno \| bun \| node\) runtime="\$1"; shift ;;$/m,
      "the first argument must select deno, bun or node",
    );
    assert.match(
      sh,
      /"\$root\/node_modules\/\.bin\/\$runtime"/,
      "the runtime must be looked up in node_modules/.bin first",
    );
    assert.match(sh, /command -v "\$runtime"/, "PATH must be the fallback");
    assert.match(sh, /BASH_SOURCE/, "paths must not depend on the working directory");
    // exec replaces the shell, so main.ts's exit code is the script's.
    assert.match(sh, /exec "\$bin" run [^\n]*"\$here\/main\.ts"[^\n]*"\$@"/);
    assert.match(sh, /exec "\$bin" "\$here\/main\.ts"[^\n]*"\$@"/);
    assert.deepEqual(
      denoPermissions(ps),
      denoPermissions(sh),
      "Deno must get the same permissions from both launchers",
    );
    assert.ok(!/\s-A\s|--allow-all/.test(sh + ps), "no blanket Deno permissions");
    assert.equal(usageOf(ps, "ps1"), usageOf(sh, "sh"), "both launchers must print the same usage");
    for (const env of sh.match(/WAL_[A-Z_]+/g) ?? []) {
      assert.ok(ps.includes(`$env:${env}`), `run.ps1 must honour ${env} like run.sh`);
    }
  });
}

test("run-scenarios.sh discovers scenarios by globbing scenarios/*/main.ts; run-scenarios.ps1 mirrors it", () => {
  const sh = read("scripts", "run-scenarios.sh");
  assert.match(sh, /"\$root"\/scenarios\/\*\/main\.ts/);
  assert.match(sh, /^set -euo pipefail$/m);
  const ps = read("scripts", "run-scenarios.ps1");
  assert.match(ps, /\[ValidateSet\('deno',\s*'bun',\s*'node'\)\]/);
  assert.match(ps, /'main\.ts'/);
  assert.match(ps, /'run\.ps1'/);
  assert.match(ps, /exit 1/);
});
