#!/usr/bin/env bash
# Removes what scenario runs leave under the OS temp directory: the data of runs that failed or were given
# --keep (wal-scenario-<name>-*) and the logs of an interrupted run-scenarios.sh. Touches nothing else.
# Usage: scenarios/shared/cleanup.sh [--dry-run]
set -euo pipefail
tmp="${TMPDIR:-/tmp}"
tmp="${tmp%/}"
dry=0
case "${1:-}" in
  --dry-run) dry=1 ;;
  "") ;;
  *) echo "usage: cleanup.sh [--dry-run]" >&2; exit 2 ;;
esac
count=0
for d in "$tmp"/wal-scenario-*; do
  [ -d "$d" ] || continue
  count=$((count + 1))
  if [ "$dry" = 1 ]; then echo "would remove $d"; else rm -rf -- "$d" && echo "removed $d"; fi
done
echo "$count scenario director$( [ "$count" = 1 ] && echo y || echo ies) in $tmp"
