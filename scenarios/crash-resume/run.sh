#!/usr/bin/env bash
# Scenario "crash-resume": a writer interrupted by SIGINT and SIGKILL, then resumed and verified.
# Runs scenarios/crash-resume/main.ts on deno (default), bun or node, from any working directory; every argument after
# the runtime goes to main.ts, and its exit code is this script's. Mirrored by run.ps1 for PowerShell; the steps
# shared by every scenario are in scenarios/shared/launch.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Deno: read and write for the log; run access (unscoped) to start and kill the writer and to probe whether a
# killed writer's lock is stale (Deno.kill(pid, 0) needs the full run permission).
deno_permissions=(--allow-read --allow-write --allow-run)
main_extra=()
if [ -n "${WAL_SCENARIO_KILLS:-}" ]; then main_extra+=(--kills "$WAL_SCENARIO_KILLS"); fi
source "$here/../shared/launch.sh"
