#!/usr/bin/env bash
# The whole test suite: type check, lint, the unit suite on Deno, Bun and Node, then every scenario on all three.
# Run from anywhere: `npm test` or `bash scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./node_modules/.bin
for tool in deno bun node; do
  [ -x "$BIN/$tool" ] || { echo "missing $BIN/$tool: run 'npm ci' first" >&2; exit 1; }
done
step() { printf '\n== %s\n' "$*"; }

step "type check (deno check)"
"$BIN/deno" check mod.ts $(find src tests scenarios scripts -name '*.ts' 2>/dev/null | sort)

step "JSDoc and README examples type-check (deno check --doc-only)"
"$BIN/deno" check --doc-only README.md mod.ts $(find src -name '*.ts' | sort)

step "lint (deno lint, and deno doc --lint: every export of mod.ts documented)"
"$BIN/deno" lint
"$BIN/deno" doc --lint mod.ts

step "unit suite on deno"
"$BIN/deno" test --allow-read --allow-write --allow-env --allow-run --allow-sys tests/

step "unit suite on bun"
# Paths start with ./ so that bun takes them as files, not as name filters that also match copies elsewhere.
"$BIN/bun" test --timeout 120000 $(find tests -name '*_test.ts' | sort | sed 's#^#./#')

step "unit suite on node"
"$BIN/node" --test --test-concurrency=1 $(find tests -name '*_test.ts' | sort)

if [ -f scripts/run-scenarios.sh ]; then
  step "scenarios on deno, bun, node"
  bash scripts/run-scenarios.sh
fi

step "consumer test: npm pack, install, use from node 22 and 24, bun, deno; tsc; publint; attw; JSR dry run"
bash tests/consumer.sh
