# The body of every scenarios/<name>/run.sh, which sets `here`, `deno_permissions` and `main_extra` and then
# sources this file. Parses the runtime argument, finds the runtime in node_modules/.bin (else on PATH) and execs
# main.ts with the remaining arguments, so main.ts's exit code is the script's. Mirrored by launch.ps1.

usage() {
  cat <<'USAGE'
usage: run.sh [deno|bun|node] [--keep] [--dir DIR] [scenario options]
       run.ps1 [-Runtime deno|bun|node] [--keep] [--dir DIR] [scenario options]
Runs this scenario's main.ts on the runtime (default deno) from node_modules/.bin, else from PATH,
and exits with its exit code. --help after the runtime lists the scenario's own options.
USAGE
}

root="$(cd "$here/../.." && pwd)"
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

case "$runtime" in
  deno) exec "$bin" run "${deno_permissions[@]}" "$here/main.ts" ${main_extra[@]+"${main_extra[@]}"} "$@" ;;
  *) exec "$bin" "$here/main.ts" ${main_extra[@]+"${main_extra[@]}"} "$@" ;;
esac
