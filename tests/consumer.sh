#!/usr/bin/env bash
# The package as a user gets it: npm pack (which builds dist/), publint and @arethetypeswrong/cli on the tarball,
# then a fresh project that installs the tarball and uses the library by its name from Node 22, Node 24 and Bun
# (ES module and require) and Deno (through node_modules), and type-checks a strict TypeScript consumer with tsc
# (module nodenext; the tsconfig `bun init` writes) and deno check. Run by scripts/test.sh; `bash tests/consumer.sh`
# alone also works. Installs from npm's cache first (`npm ci` filled it), so it needs no network after that.
# WAL_CONSUMER_NODE=/path/to/node also runs the Node checks with that binary (to verify another version once).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/node_modules/.bin
NODE24=$ROOT/node_modules/node/bin/node
NODE22=$ROOT/node_modules/node22/bin/node
EXTRA_NODE=${WAL_CONSUMER_NODE:-}
for tool in "$NODE24" "$NODE22" ${EXTRA_NODE:+"$EXTRA_NODE"} "$BIN/bun" "$BIN/deno" "$BIN/tsc" "$BIN/publint" "$BIN/attw"; do
  [ -x "$tool" ] || { echo "missing $tool: run 'npm ci' first" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wal-consumer-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
passed=0
fail=0
check() { # check LABEL COMMAND...: runs it, prints its output indented, counts a failure
  local label=$1 out
  shift
  if out=$("$@" 2>&1); then
    printf 'ok    %s\n' "$label"
    passed=$((passed + 1))
  else
    printf 'FAIL  %s\n' "$label"
    fail=$((fail + 1))
  fi
  [ -z "$out" ] || printf '%s\n' "$out" | sed '/^[[:space:]]*$/d; s/^/      /'
}

# The project's scripts run ./node_modules/.bin/node as Node 24: the node22 alias must not have taken that link.
check "node_modules/.bin/node is Node 24 ($("$BIN/node" --version)); Node 22 is node_modules/node22/bin/node" \
  bash -c "'$BIN/node' --version | grep -q '^v24\.'"

# The tarball: prepack builds dist/ first.
npm pack --silent --pack-destination "$WORK" >/dev/null
TGZ=$(ls "$WORK"/*.tgz)
# Only what a consumer needs: the built files, the sources they map to, and the documents.
unexpected=$(tar -tzf "$TGZ" | grep -vE '^package/(package\.json|README\.md|LICENSE|CHANGELOG\.md|mod\.ts|src/.*\.ts|src/walk\.wat|dist/.*\.(js|d\.ts|js\.map|d\.ts\.map))$' || true)
check "tarball $(basename "$TGZ"): $(tar -tzf "$TGZ" | wc -l) files, $(($(wc -c <"$TGZ") / 1024)) KiB, nothing unexpected" \
  test -z "$unexpected"
[ -z "$unexpected" ] || printf '%s\n' "$unexpected" | sed 's/^/      unexpected: /'

# The linters run on the tarball while the project installs. attw: every problem for node16 and bundler resolution
# fails, except that require() of this ES-module-only package counts as one (attw's TypeScript 5.6 predates
# require(esm), which Node >= 22.12, Bun and TypeScript >= 5.8 support; the require() runs below prove it works).
# NO_COLOR: with CI set, publint's colour library colours its output even into a file.
NO_COLOR=1 "$BIN/publint" run "$TGZ" --strict >"$WORK/publint.out" 2>&1 &
publint_pid=$!
"$BIN/attw" "$TGZ" --profile node16 --ignore-rules cjs-resolves-to-esm --format table-flipped --no-color \
  >"$WORK/attw.out" 2>&1 &
attw_pid=$!

APP=$WORK/app
mkdir "$APP"
cp tests/consumer/use.mjs tests/consumer/use.cjs tests/consumer/types.ts tests/consumer/types.cts "$APP/"
printf '{ "name": "wal-consumer", "private": true, "type": "module" }\n' >"$APP/package.json"
printf '{ "nodeModulesDir": "manual" }\n' >"$APP/deno.json"
check "npm install of the tarball into a fresh project" \
  bash -c "cd '$APP' && npm install --prefer-offline --no-audit --no-fund --loglevel=error '$TGZ'"
# The consumer's type packages, as its own devDependencies would provide them.
mkdir -p "$APP/node_modules/@types"
ln -s "$ROOT/node_modules/@types/node" "$APP/node_modules/@types/node"
ln -s "$ROOT/node_modules/@types/bun" "$APP/node_modules/@types/bun"

publint_rc=0
wait "$publint_pid" || publint_rc=$?
# --strict fails on warnings; a suggestion fails here too (publint then prints no "All good!").
sed -i 's/\x1b\[[0-9;]*m//g' "$WORK/publint.out"
check "publint --strict, no suggestions either" bash -c "[ $publint_rc = 0 ] && grep -q '^All good!' '$WORK/publint.out'"
sed -n '/^All good\|^Errors\|^Warnings\|^Suggestions\|^[0-9]\./p' "$WORK/publint.out" | sed 's/^/      /'
attw_rc=0
wait "$attw_pid" || attw_rc=$?
check "attw --profile node16 (node16 from ESM and CJS, bundler)" test "$attw_rc" = 0
grep -vE '^\s*$|^Build tools|^- |^@wal/wal v' "$WORK/attw.out" | sed 's/^/      /' || true

cd "$APP"
check "node $("$NODE24" --version), ES module" "$NODE24" use.mjs "node 24 esm" "$NODE24"
check "node $("$NODE24" --version), require()" "$NODE24" use.cjs "node 24 require" "$NODE24"
check "node $("$NODE22" --version), ES module" "$NODE22" use.mjs "node 22 esm" "$NODE24"
check "node $("$NODE22" --version), require()" "$NODE22" use.cjs "node 22 require" "$NODE24"
if [ -n "$EXTRA_NODE" ]; then
  check "node $("$EXTRA_NODE" --version), ES module" "$EXTRA_NODE" use.mjs "extra node esm" "$NODE24"
  check "node $("$EXTRA_NODE" --version), require()" "$EXTRA_NODE" use.cjs "extra node require" "$NODE24"
fi
check "bun $("$BIN/bun" --version), ES module" "$BIN/bun" use.mjs "bun esm" "$NODE24"
check "bun $("$BIN/bun" --version), require()" "$BIN/bun" use.cjs "bun require" "$NODE24"
deno_version=$("$BIN/deno" --version | head -1 | cut -d' ' -f2)
check "deno $deno_version through node_modules, --allow-read --allow-write only" \
  "$BIN/deno" run --quiet --allow-read --allow-write use.mjs "deno esm" -
check "deno $deno_version through node_modules, with --allow-run --allow-env to start the lock probe" \
  "$BIN/deno" run --quiet --allow-read --allow-write --allow-run="$NODE24" --allow-env use.mjs "deno esm" "$NODE24"
# The `wal` command line as installed from the tarball (its shebang finds `node` on PATH: Node 24 here).
NODE24_DIR=$(dirname "$NODE24")
check "installed ./node_modules/.bin/wal --help" \
  env PATH="$NODE24_DIR:$PATH" bash -c './node_modules/.bin/wal --help | grep -q "wal verify DIR"'
"$NODE24" --input-type=module -e '
  import { WriteAheadLog } from "@wal/wal";
  const wal = await WriteAheadLog.open("cli-log", { maxFileSize: 100 });
  await wal.append("PUT", "k", "v");
  await wal.appendBatch([["PUT", "a", "1"], ["DELETE", "b"]]);
  await wal.close();' >/dev/null 2>&1 || true
check "installed wal verify on a log (exit 0) and wal dump --json" env PATH="$NODE24_DIR:$PATH" bash -c \
  './node_modules/.bin/wal verify cli-log | grep -q "^ok: 2 segments" &&
   ./node_modules/.bin/wal dump cli-log --json | head -1 | grep -qx "{\"seq\":1,\"op\":\"PUT\",\"key\":\"k\",\"value\":\"v\",\"encoding\":\"utf8\"}"'
# The README's usage example, as written, run with the commands the README gives.
awk '/^## Usage/{u=1} u&&/^```ts/{b=1;next} b&&/^```/{exit} b' "$ROOT/README.md" >example.ts
deno_flags=$({ grep -oE 'deno run (--allow-[a-z]+ )*example\.ts' "$ROOT/README.md" || true; } | head -1 |
  sed 's/^deno run //; s/ example\.ts$//')
example() { # example LABEL COMMAND...: the example prints its streamed records last and leaves no directory
  local label=$1
  shift
  check "README example on $label" bash -c '"$@" >example.out 2>&1 || { cat example.out; exit 1; }
    tail -5 example.out | tr "\n" "," | grep -qx "1 PUT user:1,2 DELETE user:1,3 PUT order:1,4 PUT order:2,7 PUT user:2," ||
      { echo "unexpected output:"; cat example.out; exit 1; }
    ! ls -d wal-example-* 2>/dev/null' example "$@"
}
example "node 24 (node example.ts)" "$NODE24" example.ts
example "node 22 (node example.ts)" "$NODE22" example.ts
example "bun (bun example.ts)" "$BIN/bun" example.ts
# shellcheck disable=SC2086 # the flags are words
example "deno (deno run $deno_flags example.ts)" "$BIN/deno" run --quiet $deno_flags example.ts
check "deno check of the TypeScript consumer through node_modules" "$BIN/deno" check --quiet types.ts
cp "$ROOT/tests/consumer/nodenext.tsconfig.json" tsconfig.json
check "tsc $("$BIN/tsc" --version | cut -d' ' -f2) --noEmit: module nodenext, noUncheckedIndexedAccess, exactOptionalPropertyTypes, no skipLibCheck" \
  "$BIN/tsc" -p tsconfig.json
cp "$ROOT/tests/consumer/bun-init.tsconfig.json" tsconfig.json
check "tsc --noEmit: the tsconfig bun init writes" "$BIN/tsc" -p tsconfig.json
cd "$ROOT"

# The JSR package: what deno publish would upload, checked without uploading.
check "deno publish --dry-run (JSR): $(NO_COLOR=1 "$BIN/deno" publish --dry-run --allow-dirty 2>&1 |
  grep -c '^   file://') files" env NO_COLOR=1 "$BIN/deno" publish --dry-run --allow-dirty --quiet

echo "consumer test: $passed passed, $fail failed ($((SECONDS - start)) s)"
exit $((fail == 0 ? 0 : 1))
