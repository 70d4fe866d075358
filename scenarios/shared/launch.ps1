# The body of every scenarios\<name>\run.ps1, which dot-sources it and calls Invoke-Scenario with the scenario's
# Deno permissions, its own extra main.ts arguments and the user's arguments. Finds the runtime in
# node_modules\.bin (the .cmd shims npm makes on Windows) first, else on PATH, and runs main.ts; the caller ends
# with `exit $LASTEXITCODE`, passing main.ts's exit code through. Mirrors launch.sh; works in Windows PowerShell
# 5.1 and PowerShell 7.

function Invoke-Scenario {
  param(
    [string]$Runtime,
    [bool]$RuntimeGiven,
    [string]$Here,
    [string[]]$DenoPermissions,
    [object[]]$MainExtra = @(),
    [object[]]$UserArgs = @()
  )
  $usage = @'
usage: run.sh [deno|bun|node] [--keep] [--dir DIR] [scenario options]
       run.ps1 [-Runtime deno|bun|node] [--keep] [--dir DIR] [scenario options]
Runs this scenario's main.ts on the runtime (default deno) from node_modules/.bin, else from PATH,
and exits with its exit code. --help after the runtime lists the scenario's own options.
'@

  # Like launch.sh: a help switch in the runtime's place prints the usage; after a runtime it goes to main.ts.
  if (-not $RuntimeGiven -and $UserArgs.Count -gt 0 -and ($UserArgs[0] -eq '-h' -or $UserArgs[0] -eq '--help')) {
    Write-Output $usage
    exit 0
  }

  $root = Split-Path (Split-Path $Here -Parent) -Parent

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

  $main = Join-Path $Here 'main.ts'
  if ($Runtime -eq 'deno') {
    & $exe run @DenoPermissions $main @MainExtra @UserArgs
  } else {
    & $exe $main @MainExtra @UserArgs
  }
}
