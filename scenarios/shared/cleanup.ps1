<#
.SYNOPSIS
Removes what scenario runs leave under the OS temp directory (wal-scenario-* directories). Mirror of cleanup.sh.

.EXAMPLE
.\scenarios\shared\cleanup.ps1 -DryRun
#>
param([switch]$DryRun)
$ErrorActionPreference = 'Stop'
$tmp = [System.IO.Path]::GetTempPath()
$dirs = @(Get-ChildItem -Path $tmp -Directory -Filter 'wal-scenario-*' -ErrorAction SilentlyContinue)
foreach ($d in $dirs) {
  if ($DryRun) {
    Write-Output "would remove $($d.FullName)"
  } else {
    Remove-Item -LiteralPath $d.FullName -Recurse -Force
    Write-Output "removed $($d.FullName)"
  }
}
Write-Output "$($dirs.Count) scenario directories in $tmp"
exit 0
