# Installs certkeeper-agent as a Windows service (run in an elevated PowerShell).
#   .\install-windows-service.ps1 -Server https://certkeeper.example.com -Token cke_... `
#       -CaBundle C:\certkeeper\ca.pem -Source C:\src\certkeeper\agent
# Needs Python 3.11+ on PATH and WinSW-x64.exe (https://github.com/winsw/winsw/releases)
# in this folder.
param(
    [Parameter(Mandatory = $true)][string]$Server,
    [Parameter(Mandatory = $true)][string]$Token,
    [string]$CaBundle = "",
    [string]$Source = (Join-Path $PSScriptRoot "..\..\agent"),
    [string]$InstallDir = "C:\Program Files\certkeeper-agent",
    [string]$StateDir = "C:\ProgramData\certkeeper-agent"
)
$ErrorActionPreference = "Stop"

New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
python -m venv (Join-Path $InstallDir "venv")
$agent = Join-Path $InstallDir "venv\Scripts\certkeeper-agent.exe"
& (Join-Path $InstallDir "venv\Scripts\python.exe") -m pip install --upgrade $Source

# The state directory holds the agent's credential: SYSTEM and Administrators only.
New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
icacls $StateDir /inheritance:r /grant:r "SYSTEM:(OI)(CI)F" "Administrators:(OI)(CI)F" | Out-Null

$enroll = @("enroll", "--server", $Server, "--token", $Token, "--state-dir", $StateDir)
if ($CaBundle) { $enroll += @("--ca-bundle", $CaBundle) }
& $agent @enroll
if ($LASTEXITCODE -ne 0) { throw "enrollment failed" }

Copy-Item (Join-Path $PSScriptRoot "WinSW-x64.exe") (Join-Path $InstallDir "certkeeper-agent.exe")
Copy-Item (Join-Path $PSScriptRoot "certkeeper-agent.xml") (Join-Path $InstallDir "certkeeper-agent.xml")
& (Join-Path $InstallDir "certkeeper-agent.exe") install
& (Join-Path $InstallDir "certkeeper-agent.exe") start
Write-Host "certkeeper-agent is installed and running (logs in $InstallDir)."
