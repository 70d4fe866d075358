#!/usr/bin/env bash
# Scenario "crash-resume": a writer interrupted by SIGINT and SIGKILL, then resumed and verified.
# Runs scenarios/crash-resume/main.ts on deno (default), bun or node, from any working directory; every argument after
# the runtime goes to main.ts, and its exit code is this script's. Mirrored by run.ps1 for PowerShell.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

usage() {
  cat <<'EOF'
usage: run.sh [deno|bun|node] [--keep] [--dir DIR] [scenario options]
       run.ps1 [-Runtime deno|bun|node] [--keep] [--dir DIR] [scenario options]
Runs this scenario's main.ts on the runtime (default deno) from node_modules/.bin, else from PATH,
and exits with its exit code. --help after the runtime lists the scenario's own options.
EOF
}

runtime=deno
case "${1:-}" in
  deno | bun | node) runtime="$1"; shift ;;
  -h | --help) usage; exit 0 ;;
  -*) ;;
  "") ;;
  *) echo "unknown runtime: $1" >&2; usage >&2; exit 2 ;;
esac

# The project's pinned runtime first, so a fresh clone after `npm ci` needs nothing installed globally.
if [ -x "$root/node_modules/.bin/$runtime" ]; then
  bin="$root/node_modules/.bin/$runtime"
elif command -v "$runtime" >/dev/null 2>&1; then
  bin="$(command -v "$runtime")"
else
  echo "$runtime not found in $root/node_modules/.bin or on PATH" >&2
  exit 127
fi

# Deno: the log needs read and write; starting and killing the child writer, and probing whether a killed
# writer's lock is stale, need run access.
extra=()
if [ -n "${WAL_SCENARIO_KILLS:-}" ]; then extra+=(--kills "$WAL_SCENARIO_KILLS"); fi
case "$runtime" in
  deno)
    # --allow-run unscoped: besides starting the writer, opening a log after a kill probes whether the lock's
    # owner is alive (Deno.kill(pid, 0)), which Deno allows only with the full run permission.
    exec "$bin" run --allow-read --allow-write --allow-run "$here/main.ts" ${extra[@]+"${extra[@]}"} "$@"
    ;;
  *) exec "$bin" "$here/main.ts" ${extra[@]+"${extra[@]}"} "$@" ;;
esac
