<#
.SYNOPSIS
Scenario "corruption": every kind of damage in repair and strict mode.

.DESCRIPTION
Runs scenarios/corruption/main.ts on deno (default), bun or node, from any working directory: the runtime from
node_modules\.bin (the .cmd shims npm makes on Windows) first, else from PATH. Every other argument goes to
main.ts, and its exit code is this script's. Mirrors run.sh argument for argument; works in Windows PowerShell
5.1 and PowerShell 7. The steps shared by every scenario are in scenarios\shared\launch.ps1.

.EXAMPLE
.\scenarios\corruption\run.ps1 -Runtime node --keep
#>
# A plain param block (no CmdletBinding), so that main.ts options such as --keep land in $args untouched.
param(
  [ValidateSet('deno', 'bun', 'node')]
  [string]$Runtime = 'deno'
)
$ErrorActionPreference = 'Stop'

# Deno: the scenario touches only its log directories, so read and write are all it gets.
$denoPermissions = @('--allow-read', '--allow-write')
$mainExtra = @()

. (Join-Path (Split-Path $PSScriptRoot -Parent) 'shared\launch.ps1')
Invoke-Scenario -Runtime $Runtime -RuntimeGiven $PSBoundParameters.ContainsKey('Runtime') -Here $PSScriptRoot `
  -DenoPermissions $denoPermissions -MainExtra $mainExtra -UserArgs $args
exit $LASTEXITCODE
