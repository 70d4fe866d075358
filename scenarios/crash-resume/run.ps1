<#
.SYNOPSIS
Scenario "crash-resume": a writer interrupted by SIGINT and SIGKILL, then resumed and verified.

.DESCRIPTION
Runs scenarios/crash-resume/main.ts on deno (default), bun or node, from any working directory: the runtime from
node_modules\.bin (the .cmd shims npm makes on Windows) first, else from PATH. Every other argument goes to
main.ts, and its exit code is this script's. Mirrors run.sh argument for argument; works in Windows PowerShell
5.1 and PowerShell 7. The steps shared by every scenario are in scenarios\shared\launch.ps1.

.EXAMPLE
.\scenarios\crash-resume\run.ps1 -Runtime node --keep
#>
# A plain param block (no CmdletBinding), so that main.ts options such as --keep land in $args untouched.
param(
  [ValidateSet('deno', 'bun', 'node')]
  [string]$Runtime = 'deno'
)
$ErrorActionPreference = 'Stop'

# Deno: read and write for the log; run access (unscoped) to start and kill the writer and to probe whether a
# killed writer's lock is stale (Deno.kill(pid, 0) needs the full run permission).
$denoPermissions = @('--allow-read', '--allow-write', '--allow-run')
$mainExtra = @()
if ($env:WAL_SCENARIO_KILLS) { $mainExtra += @('--kills', $env:WAL_SCENARIO_KILLS) }
# Windows has no SIGINT to send to a child: the writer is stopped through a stop file, which it also honours.
$onWindows = ($PSVersionTable.PSEdition -eq 'Desktop') -or $IsWindows
if ($onWindows -and -not ($args -contains '--interrupt')) { $mainExtra += @('--interrupt', 'stopfile') }

. (Join-Path (Split-Path $PSScriptRoot -Parent) 'shared\launch.ps1')
Invoke-Scenario -Runtime $Runtime -RuntimeGiven $PSBoundParameters.ContainsKey('Runtime') -Here $PSScriptRoot `
  -DenoPermissions $denoPermissions -MainExtra $mainExtra -UserArgs $args
exit $LASTEXITCODE
