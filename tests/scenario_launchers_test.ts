// The scenario launchers (issue 4). No PowerShell runs on the project's machines, so each run.ps1 is checked
// by parsing: it must take the same runtime argument as its run.sh, give Deno the same permissions, hand
// main.ts's exit code back, and use the shared launcher, which must find the runtime in node_modules\.bin and
// print the same usage as launch.sh. The .sh launchers are also run for real by run-scenarios.sh.
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

/** The usage block: launch.sh's heredoc, launch.ps1's here-string. */
function usageOf(script: string, kind: "sh" | "ps1"): string {
  const m = kind === "sh" ? /<<'USAGE'\n([\s\S]*?)\nUSAGE\n/.exec(script) : /@'\n([\s\S]*?)\n'@/.exec(script);
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

test("the shared launchers: runtime lookup in node_modules/.bin then PATH, exec of main.ts, one usage text", () => {
  const sh = read("scenarios", "shared", "launch.sh");
  const ps = read("scenarios", "shared", "launch.ps1");
  assert.match(sh, /^runtime=deno$/m, "the default runtime must be deno, as in run.ps1");
  assert.match(sh, /^\s*deno \| bun \| node\) runtime="\$1"; shift ;;$/m, "the first argument must select the runtime");
  assert.match(sh, /"\$root\/node_modules\/\.bin\/\$runtime"/, "the runtime must be looked up in node_modules/.bin first");
  assert.match(sh, /command -v "\$runtime"/, "PATH must be the fallback");
  // exec replaces the shell, so main.ts's exit code is the script's.
  assert.match(sh, /exec "\$bin" run "\$\{deno_permissions\[@\]\}" "\$here\/main\.ts"[^\n]*"\$@"/);
  assert.match(sh, /exec "\$bin" "\$here\/main\.ts"[^\n]*"\$@"/);
  assert.match(ps, /Join-Path \$root 'node_modules\\\.bin'/, "the runtime must be looked up in node_modules\\.bin first");
  assert.match(ps, /"\$Runtime\.cmd"/, "npm's .cmd shims must be tried on Windows");
  assert.match(ps, /Get-Command \$Runtime/, "PATH must be the fallback");
  assert.match(ps, /&\s+\$exe\s+run\s+@DenoPermissions\s+\$main\s+@MainExtra\s+@UserArgs/, "deno must run main.ts");
  assert.match(ps, /&\s+\$exe\s+\$main\s+@MainExtra\s+@UserArgs/, "bun and node must run main.ts with the arguments");
  assert.match(ps, /\$UserArgs\[0\] -eq '--help'/, "help is recognised in the user's first argument, as in launch.sh");
  assert.match(ps, /exit 127/, "a missing runtime must fail like launch.sh");
  assert.equal(usageOf(ps, "ps1"), usageOf(sh, "sh"), "both launchers must print the same usage");
  assert.ok(!/\s-A\s|--allow-all/.test(sh + ps), "no blanket Deno permissions");
});

for (const name of scenarioNames()) {
  test(`${name}/run.ps1: -Runtime deno|bun|node, the shared launcher, exit $LASTEXITCODE`, () => {
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
    assert.match(ps, /\$PSScriptRoot/, "paths must not depend on the working directory");
    assert.match(ps, /^\. \(Join-Path \(Split-Path \$PSScriptRoot -Parent\) 'shared\\launch\.ps1'\)$/m);
    assert.match(ps, /Invoke-Scenario -Runtime \$Runtime -RuntimeGiven \$PSBoundParameters\.ContainsKey\('Runtime'\)/);
    assert.match(ps, /-MainExtra \$mainExtra -UserArgs \$args$/m, "every other argument must reach main.ts");
    const lines = ps.trim().split("\n");
    assert.equal(
      lines[lines.length - 1].trim(),
      "exit $LASTEXITCODE",
      "the last line must pass main.ts's exit code through",
    );
  });

  test(`${name}/run.sh mirrors run.ps1: same runtime argument, Deno permissions, environment`, () => {
    const sh = read("scenarios", name, "run.sh");
    const ps = read("scenarios", name, "run.ps1");
    assert.match(sh, /^#!\/usr\/bin\/env bash\n/);
    assert.match(sh, /^set -euo pipefail$/m);
    assert.match(sh, /BASH_SOURCE/, "paths must not depend on the working directory");
    assert.match(sh, /^source "\$here\/\.\.\/shared\/launch\.sh"$/m, "the runtime argument is parsed by launch.sh");
    assert.equal(sh.trim().split("\n").pop(), 'source "$here/../shared/launch.sh"', "sourcing the launcher is the last step");
    assert.deepEqual(
      denoPermissions(ps),
      denoPermissions(sh),
      "Deno must get the same permissions from both launchers",
    );
    assert.ok(!/\s-A\s|--allow-all/.test(sh + ps), "no blanket Deno permissions");
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
