#!/usr/bin/env bash
# Scenario "normal": the ten contract checks, batch atomicity and a mixed string/bytes workload.
# Runs scenarios/normal/main.ts on deno (default), bun or node, from any working directory; every argument after
# the runtime goes to main.ts, and its exit code is this script's. Mirrored by run.ps1 for PowerShell; the steps
# shared by every scenario are in scenarios/shared/launch.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Deno: the scenario touches only its log directories, so read and write are all it gets.
deno_permissions=(--allow-read --allow-write)
main_extra=()
source "$here/../shared/launch.sh"
