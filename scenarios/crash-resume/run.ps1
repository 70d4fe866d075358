<#
.SYNOPSIS
Scenario "crash-resume": a writer interrupted by SIGINT and SIGKILL, then resumed and verified.

.DESCRIPTION
Runs scenarios/crash-resume/main.ts on deno (default), bun or node, from any working directory: the runtime from
node_modules\.bin (the .cmd shims npm makes on Windows) first, else from PATH. Every other argument goes to
main.ts, and its exit code is this script's. Mirrors run.sh argument for argument; works in Windows PowerShell
5.1 and PowerShell 7.

.EXAMPLE
.\scenarios\crash-resume\run.ps1 -Runtime node --keep
#>
# A plain param block (no CmdletBinding), so that main.ts options such as --keep land in $args untouched.
param(
  [ValidateSet('deno', 'bun', 'node')]
  [string]$Runtime = 'deno'
)
$ErrorActionPreference = 'Stop'

$usage = @'
usage: run.sh [deno|bun|node] [--keep] [--dir DIR] [scenario options]
       run.ps1 [-Runtime deno|bun|node] [--keep] [--dir DIR] [scenario options]
Runs this scenario's main.ts on the runtime (default deno) from node_modules/.bin, else from PATH,
and exits with its exit code. --help after the runtime lists the scenario's own options.
'@

# Like run.sh: a help switch in the runtime's place prints the usage; after a runtime it goes to main.ts.
if (-not $PSBoundParameters.ContainsKey('Runtime') -and $args.Count -gt 0 -and ($args[0] -eq '-h' -or $args[0] -eq '--help')) {
  Write-Output $usage
  exit 0
}

$here = $PSScriptRoot
$root = Split-Path (Split-Path $here -Parent) -Parent

# The project's pinned runtime first, so a fresh clone after `npm ci` needs nothing installed globally.
$exe = $null
$binDir = Join-Path $root 'node_modules\.bin'
foreach ($candidate in @("$Runtime.cmd", "$Runtime.exe", $Runtime)) {
  $path = Join-Path $binDir $candidate
  if (Test-Path -LiteralPath $path -PathType Leaf) {
    $exe = $path
    break
  }
}
if ($null -eq $exe) {
  $found = Get-Command $Runtime -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
  if ($null -ne $found) { $exe = $found.Source }
}
if ($null -eq $exe) {
  Write-Error "$Runtime not found in $binDir or on PATH" -ErrorAction Continue
  exit 127
}

$main = Join-Path $here 'main.ts'
$extra = @()
if ($env:WAL_SCENARIO_KILLS) { $extra += @('--kills', $env:WAL_SCENARIO_KILLS) }
# Windows has no SIGINT to send to a child: the writer is stopped through a stop file, which it also honours.
$onWindows = ($PSVersionTable.PSEdition -eq 'Desktop') -or $IsWindows
if ($onWindows -and -not ($args -contains '--interrupt')) { $extra += @('--interrupt', 'stopfile') }

if ($Runtime -eq 'deno') {
  # Read and write for the log; run access to start and kill the writer and to probe a killed writer's lock.
  # --allow-run unscoped: opening a log after a kill probes whether the lock's owner is alive (see run.sh).
  & $exe run --allow-read --allow-write --allow-run $main @extra @args
} else {
  & $exe $main @extra @args
}
exit $LASTEXITCODE
