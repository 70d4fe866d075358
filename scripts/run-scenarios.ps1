<#
.SYNOPSIS
Runs every scenario on every installed runtime and prints a table (scenario x runtime: pass/fail and seconds).

.DESCRIPTION
Mirror of scripts/run-scenarios.sh for Windows PowerShell 5.1 and PowerShell 7: finds scenarios\*\main.ts,
runs each through its run.ps1 on deno, bun and node (those found in node_modules\.bin or on PATH), one at a
time, and exits 1 if any run failed.

.EXAMPLE
.\scripts\run-scenarios.ps1 -Runtimes node,bun
#>
param(
  [ValidateSet('deno', 'bun', 'node')]
  [string[]]$Runtimes = @('deno', 'bun', 'node')
)
$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot -Parent
$binDir = Join-Path $root 'node_modules\.bin'

$found = @()
foreach ($r in $Runtimes) {
  $local = @("$r.cmd", "$r.exe", $r) | Where-Object { Test-Path -LiteralPath (Join-Path $binDir $_) -PathType Leaf }
  if ($local -or (Get-Command $r -CommandType Application -ErrorAction SilentlyContinue)) {
    $found += $r
  } else {
    Write-Output "skipping ${r}: not in node_modules\.bin or on PATH"
  }
}
if ($found.Count -eq 0) { Write-Error "no runtime found: run 'npm ci' first" -ErrorAction Continue; exit 1 }

$scenarios = @(Get-ChildItem -Path (Join-Path $root 'scenarios') -Directory |
  Where-Object { Test-Path -LiteralPath (Join-Path $_.FullName 'main.ts') } |
  Sort-Object Name | ForEach-Object { $_.Name })
if ($scenarios.Count -eq 0) { Write-Error 'no scenarios\*\main.ts found' -ErrorAction Continue; exit 1 }

# The PowerShell that runs this script runs the scenarios too (powershell.exe 5.1 or pwsh 7).
$shell = (Get-Process -Id $PID).Path
$cells = @{}
$failed = 0
foreach ($s in $scenarios) {
  $launcher = Join-Path (Join-Path (Join-Path $root 'scenarios') $s) 'run.ps1'
  foreach ($r in $found) {
    Write-Output "== $s on $r"
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    $output = & $shell -NoProfile -ExecutionPolicy Bypass -File $launcher -Runtime $r 2>&1 | ForEach-Object { "$_" }
    $code = $LASTEXITCODE
    $watch.Stop()
    $status = if ($code -eq 0) { 'pass' } else { 'FAIL' }
    if ($code -ne 0) { $failed++ }
    $cells["$s/$r"] = '{0} {1:N1}s' -f $status, $watch.Elapsed.TotalSeconds
    $output | Where-Object { $_ -match '^(FAIL|\d+ passed)' } | ForEach-Object { "   $_" }
    if ($code -ne 0) {
      Write-Output '   --- last lines of the output:'
      $output | Select-Object -Last 25 | ForEach-Object { "   | $_" }
    }
  }
}

Write-Output ''
Write-Output (('{0,-14}' -f 'scenario') + (($found | ForEach-Object { '{0,-14}' -f $_ }) -join ''))
foreach ($s in $scenarios) {
  Write-Output (('{0,-14}' -f $s) + (($found | ForEach-Object { '{0,-14}' -f $cells["$s/$_"] }) -join ''))
}
Write-Output ''
if ($failed -gt 0) {
  Write-Output "$failed scenario run(s) failed"
  exit 1
}
Write-Output "all $($cells.Count) scenario runs passed"
exit 0
