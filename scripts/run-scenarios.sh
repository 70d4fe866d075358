#!/usr/bin/env bash
# Runs every scenario (scenarios/*/main.ts, through its run.sh) on every runtime that is installed, one at a
# time, and prints a table of scenario x runtime: pass/fail and seconds. Exits non-zero if any run failed.
# Usage: scripts/run-scenarios.sh [deno|bun|node ...]   (default: all three, those found)
# Mirrored by scripts/run-scenarios.ps1. `npm run scenarios` runs this one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

runtimes=()
for rt in "${@:-deno bun node}"; do
  for r in $rt; do
    case "$r" in
      deno | bun | node) ;;
      *) echo "usage: run-scenarios.sh [deno|bun|node ...]" >&2; exit 2 ;;
    esac
    if [ -x "$root/node_modules/.bin/$r" ] || command -v "$r" >/dev/null 2>&1; then
      runtimes+=("$r")
    else
      echo "skipping $r: not in node_modules/.bin or on PATH"
    fi
  done
done
[ "${#runtimes[@]}" -gt 0 ] || { echo "no runtime found: run 'npm ci' first" >&2; exit 1; }

scenarios=()
for main in "$root"/scenarios/*/main.ts; do
  [ -f "$main" ] || continue
  dir="$(dirname "$main")"
  [ -f "$dir/run.sh" ] || { echo "$dir has a main.ts but no run.sh" >&2; exit 1; }
  scenarios+=("$(basename "$dir")")
done
[ "${#scenarios[@]}" -gt 0 ] || { echo "no scenarios/*/main.ts found" >&2; exit 1; }

logs="$(mktemp -d "${TMPDIR:-/tmp}/wal-scenario-logs.XXXXXX")"
trap 'rm -rf "$logs"' EXIT

# Bash 5 has a sub-second clock; older ones (macOS ships 3.2) fall back to whole seconds.
now() {
  if [ -n "${EPOCHREALTIME:-}" ]; then echo "${EPOCHREALTIME/,/.}"; else date +%s; fi
}

declare -a cells=()
failed=0
for s in "${scenarios[@]}"; do
  for r in "${runtimes[@]}"; do
    log="$logs/$s-$r.log"
    echo "== $s on $r"
    start="$(now)"
    if bash "$root/scenarios/$s/run.sh" "$r" >"$log" 2>&1; then status=pass; else status=FAIL; failed=$((failed + 1)); fi
    secs="$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
    cells+=("$status ${secs}s")
    grep -E '^(FAIL|[0-9]+ passed)' "$log" | sed 's/^/   /' || true
    if [ "$status" = FAIL ]; then
      echo "   --- last lines of the output:"
      tail -n 25 "$log" | sed 's/^/   | /'
    fi
  done
done

echo
printf '%-14s' scenario
for r in "${runtimes[@]}"; do printf '%-14s' "$r"; done
echo
i=0
for s in "${scenarios[@]}"; do
  printf '%-14s' "$s"
  for _ in "${runtimes[@]}"; do
    printf '%-14s' "${cells[$i]}"
    i=$((i + 1))
  done
  echo
done
echo
if [ "$failed" -gt 0 ]; then
  echo "$failed scenario run(s) failed"
  exit 1
fi
echo "all ${#cells[@]} scenario runs passed"
