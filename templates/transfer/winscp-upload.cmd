@echo off
rem winscp-upload.cmd: upload one upgrade's files and the agent to a Usage Meter appliance with
rem WinSCP, for the appliance and the change named in the values below.
rem
rem   winscp-upload.cmd [BUNDLE]   a .shar upgrade: the downloaded bundle
rem   winscp-upload.cmd [FOLDER]   an ISO upgrade: the folder of the ISO, its manifest (the ISO's
rem                                SHA-1), certificate and signature, under their own names
rem
rem Without the argument, the inventory's local_path or local_folder (UM_DEFAULT below), where
rem it gives one. It checks a .shar's SHA-256, or the ISO against its manifest (SHA-1, and the
rem inventory's SHA-256 where it gives one), and the agent's SHA-256, and refuses on a mismatch
rem or a manifest without a line for the ISO; then runs winscp-upload.txt with winscp.com
rem (/ini=nul: no stored settings; the host key is pinned in the script), which uploads the
rem files, logging to winscp-upload.log next to this file. WinSCP asks for root's password. An
rem ISO's certificate and signature are checked on the appliance (openssl), as the runbook says.
rem Without a host key in the inventory it refuses to run and says how to add the key.
rem Set WINSCP_COM to WinSCP.com's path if it is not found; set UM_NO_PAUSE=1 to skip the pause.
rem
rem The program is the same for every appliance; only the values differ. Values go into
rem set "NAME=value" ('%' doubled; '"', control and non-ASCII characters refused). No
rem parenthesised blocks: a value such as %ProgramFiles(x86)% would close one. Paths are never
rem passed through `call`, which would expand their percent signs a second time.
setlocal EnableExtensions DisableDelayedExpansion

rem --- values (written by umrunbook) ---
set "UM_APPLIANCE="
set "UM_HOST="
set "UM_PORT="
set "UM_REMOTE_DIR="
set "UM_DELIVERY="
set "UM_BUNDLE_NAME="
set "UM_BUNDLE_SHA256="
set "UM_ISO_NAME="
set "UM_ISO_SHA256="
set "UM_MANIFEST_NAME="
set "UM_CERTIFICATE_NAME="
set "UM_SIGNATURE_NAME="
set "UM_AGENT_SHA256="
set "UM_AGENT_RELPATH="
set "UM_HOSTKEY="
set "UM_SCRIPT_NAME="
set "UM_LOG_NAME="
set "UM_DEFAULT="
rem --- end of values ---
set "UM_SCRIPT=%~dp0%UM_SCRIPT_NAME%"
set "UM_LOG=%~dp0%UM_LOG_NAME%"
set "UM_AGENT=%~dp0%UM_AGENT_RELPATH%"
if "%UM_HOSTKEY%"=="" goto no_host_key
if "%UM_DELIVERY%"=="iso" goto iso

:shar
set "UM_BUNDLE=%UM_DEFAULT%"
if not "%~1"=="" set "UM_BUNDLE=%~1"
if not "%~2"=="" goto usage_shar
if "%UM_BUNDLE%"=="" goto usage_shar
if /i "%UM_BUNDLE%"=="/?" goto usage_shar
if /i "%UM_BUNDLE%"=="-h" goto usage_shar
if /i "%UM_BUNDLE%"=="--help" goto usage_shar

set "UM_WINSCP="
if defined WINSCP_COM set "UM_WINSCP=%WINSCP_COM%"
if not defined UM_WINSCP for %%W in (WinSCP.com) do set "UM_WINSCP=%%~$PATH:W"
if not defined UM_WINSCP if exist "%ProgramFiles(x86)%\WinSCP\WinSCP.com" set "UM_WINSCP=%ProgramFiles(x86)%\WinSCP\WinSCP.com"
if not defined UM_WINSCP if exist "%ProgramFiles%\WinSCP\WinSCP.com" set "UM_WINSCP=%ProgramFiles%\WinSCP\WinSCP.com"
if not defined UM_WINSCP if exist "%LOCALAPPDATA%\Programs\WinSCP\WinSCP.com" set "UM_WINSCP=%LOCALAPPDATA%\Programs\WinSCP\WinSCP.com"
if not defined UM_WINSCP goto no_winscp
if not exist "%UM_SCRIPT%" goto no_script

set "UM_FILE=%UM_BUNDLE%"
set "UM_WANT=%UM_BUNDLE_SHA256%"
set "UM_WHAT=the bundle"
set "UM_HINT=Download the bundle again; if the checksum still differs, compare it with the vendor's download page."
call :check_sha256
if errorlevel 1 goto refused

set "UM_FILE=%UM_AGENT%"
set "UM_WANT=%UM_AGENT_SHA256%"
set "UM_WHAT=the agent"
set "UM_HINT=The change package was changed after it was generated: render it again."
call :check_sha256
if errorlevel 1 goto refused

echo winscp-upload.cmd: connecting to root@%UM_HOST% port %UM_PORT%; the host key must be:
echo   %UM_HOSTKEY%
echo winscp-upload.cmd: uploading into %UM_REMOTE_DIR%; log file:
echo   "%UM_LOG%"
"%UM_WINSCP%" /ini=nul /log="%UM_LOG%" /script="%UM_SCRIPT%" /parameter // "%UM_BUNDLE%" "%UM_AGENT%"
set "UM_RC=%ERRORLEVEL%"
if not "%UM_RC%"=="0" goto failed

echo.
echo winscp-upload.cmd: UPLOADED: %UM_BUNDLE_NAME% and the agent are in %UM_REMOTE_DIR% on %UM_APPLIANCE%.
echo Compare the sizes listed above with the local files, then check both checksums on the
echo appliance as the runbook says (sha256sum: each line must end in OK).
goto finish

:usage_shar
echo usage: winscp-upload.cmd [BUNDLE]
echo   Checks BUNDLE (the downloaded %UM_BUNDLE_NAME%) and the agent, then uploads both to
echo   root@%UM_HOST% port %UM_PORT%, folder %UM_REMOTE_DIR%, with WinSCP.
set "UM_RC=2"
goto finish

:iso
set "UM_FOLDER=%UM_DEFAULT%"
if not "%~1"=="" set "UM_FOLDER=%~1"
if not "%~2"=="" goto usage_iso
if "%UM_FOLDER%"=="" goto usage_iso
if /i "%UM_FOLDER%"=="/?" goto usage_iso
if /i "%UM_FOLDER%"=="-h" goto usage_iso
if /i "%UM_FOLDER%"=="--help" goto usage_iso
if "%UM_FOLDER:~-1%"=="\" set "UM_FOLDER=%UM_FOLDER:~0,-1%"
set "UM_ISO=%UM_FOLDER%\%UM_ISO_NAME%"
set "UM_MANIFEST=%UM_FOLDER%\%UM_MANIFEST_NAME%"
set "UM_CERTIFICATE=%UM_FOLDER%\%UM_CERTIFICATE_NAME%"
set "UM_SIGNATURE=%UM_FOLDER%\%UM_SIGNATURE_NAME%"

set "UM_WINSCP="
if defined WINSCP_COM set "UM_WINSCP=%WINSCP_COM%"
if not defined UM_WINSCP for %%W in (WinSCP.com) do set "UM_WINSCP=%%~$PATH:W"
if not defined UM_WINSCP if exist "%ProgramFiles(x86)%\WinSCP\WinSCP.com" set "UM_WINSCP=%ProgramFiles(x86)%\WinSCP\WinSCP.com"
if not defined UM_WINSCP if exist "%ProgramFiles%\WinSCP\WinSCP.com" set "UM_WINSCP=%ProgramFiles%\WinSCP\WinSCP.com"
if not defined UM_WINSCP if exist "%LOCALAPPDATA%\Programs\WinSCP\WinSCP.com" set "UM_WINSCP=%LOCALAPPDATA%\Programs\WinSCP\WinSCP.com"
if not defined UM_WINSCP goto no_winscp
if not exist "%UM_SCRIPT%" goto no_script

set "UM_FILE=%UM_MANIFEST%"
set "UM_WHAT=the manifest"
call :check_file
if errorlevel 1 goto refused

set "UM_FILE=%UM_CERTIFICATE%"
set "UM_WHAT=the certificate"
call :check_file
if errorlevel 1 goto refused

set "UM_FILE=%UM_SIGNATURE%"
set "UM_WHAT=the signature"
call :check_file
if errorlevel 1 goto refused

if "%UM_ISO_SHA256%"=="" goto iso_manifest
set "UM_FILE=%UM_ISO%"
set "UM_WANT=%UM_ISO_SHA256%"
set "UM_WHAT=the ISO"
set "UM_HINT=Download the ISO again; if the checksum still differs, compare it with the vendor's download page."
call :check_sha256
if errorlevel 1 goto refused

:iso_manifest
set "UM_FILE=%UM_ISO%"
set "UM_WHAT=the ISO"
call :check_manifest
if errorlevel 1 goto refused

set "UM_FILE=%UM_AGENT%"
set "UM_WANT=%UM_AGENT_SHA256%"
set "UM_WHAT=the agent"
set "UM_HINT=The change package was changed after it was generated: render it again."
call :check_sha256
if errorlevel 1 goto refused

echo winscp-upload.cmd: connecting to root@%UM_HOST% port %UM_PORT%; the host key must be:
echo   %UM_HOSTKEY%
echo winscp-upload.cmd: uploading into %UM_REMOTE_DIR% (created if missing); log file:
echo   "%UM_LOG%"
"%UM_WINSCP%" /ini=nul /log="%UM_LOG%" /script="%UM_SCRIPT%" /parameter // "%UM_ISO%" "%UM_MANIFEST%" "%UM_CERTIFICATE%" "%UM_SIGNATURE%" "%UM_AGENT%"
set "UM_RC=%ERRORLEVEL%"
if not "%UM_RC%"=="0" goto failed

echo.
echo winscp-upload.cmd: UPLOADED: the four upgrade files and the agent are in %UM_REMOTE_DIR% on %UM_APPLIANCE%.
echo Compare the sizes listed above with the local files, then check the files on the appliance
echo as the runbook's step "Check the files on the appliance" says (checksums, certificate, signature).
goto finish

:usage_iso
echo usage: winscp-upload.cmd [FOLDER]
echo   Checks the ISO in FOLDER against its manifest, then uploads the four files in FOLDER
echo     %UM_ISO_NAME%
echo     %UM_MANIFEST_NAME%
echo     %UM_CERTIFICATE_NAME%
echo     %UM_SIGNATURE_NAME%
echo   and the agent to root@%UM_HOST% port %UM_PORT%, folder %UM_REMOTE_DIR%, with WinSCP.
set "UM_RC=2"
goto finish

:no_host_key
echo winscp-upload.cmd: REFUSED: the inventory has no SSH host key for %UM_APPLIANCE% (%UM_HOST%, port %UM_PORT%).
echo Without it the first connection would have to trust whatever key answers. Nothing was uploaded.
echo.
echo To add the key:
echo   1. On the appliance's console, logged in as root, print each host key's fingerprint and line:
echo        for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -E sha256 -f "$f"; cat "$f"; done
echo   2. Copy the ssh-ed25519 line (its type and key, "ssh-ed25519 AAAA...") into the inventory as
echo      ssh_host_key of %UM_APPLIANCE%.
echo   3. Render the change package again, and use the new winscp-upload.cmd.
set "UM_RC=1"
goto finish

:no_winscp
echo winscp-upload.cmd: REFUSED: WinSCP.com was not found (PATH, Program Files, the user's programs).
echo Install WinSCP, or set WINSCP_COM to the full path of WinSCP.com. Nothing was uploaded.
set "UM_RC=1"
goto finish

:no_script
echo winscp-upload.cmd: REFUSED: %UM_SCRIPT_NAME% is missing next to this file.
echo Use the transfer folder as the change package holds it. Nothing was uploaded.
set "UM_RC=1"
goto finish

:refused
echo winscp-upload.cmd: REFUSED: nothing was uploaded.
set "UM_RC=1"
goto finish

:failed
echo.
echo winscp-upload.cmd: FAILED: WinSCP stopped with exit code %UM_RC% (its messages are above).
echo The log is "%UM_LOG%". A file that was cut off stays under a temporary name on the
echo appliance, never under its real name. Fix the cause and run winscp-upload.cmd again.
goto finish

rem Compares the SHA-256 of UM_FILE with UM_WANT (set by the caller, never passed through call).
rem PowerShell reads the path from the environment, so no character of it is parsed here. A
rem percent sign is refused: WinSCP would expand %%NAME%% in the path it is given.
:check_sha256
powershell.exe -NoLogo -NoProfile -NonInteractive -Command "$p = $env:UM_FILE; $w = $env:UM_WHAT; if ($p.Contains([string][char]37)) { Write-Host ('winscp-upload.cmd: ' + $w + ': the path holds a percent sign, which WinSCP would expand; rename it: ' + $p); exit 3 }; if (-not (Test-Path -LiteralPath $p -PathType Leaf)) { Write-Host ('winscp-upload.cmd: ' + $w + ' is not a file: ' + $p); exit 2 }; Write-Host ('winscp-upload.cmd: checking the SHA-256 of ' + $w + ': ' + $p); $h = (Get-FileHash -Algorithm SHA256 -LiteralPath $p).Hash.ToLowerInvariant(); if ($h -ne $env:UM_WANT) { Write-Host ('winscp-upload.cmd: ' + $w + ' is not the one in the plan.'); Write-Host ('  expected SHA-256: ' + $env:UM_WANT); Write-Host ('  actual SHA-256:   ' + $h); Write-Host $env:UM_HINT; exit 1 }; Write-Host ('  SHA-256 OK: ' + $h); exit 0"
set "UM_SHA_RC=%ERRORLEVEL%"
if "%UM_SHA_RC%"=="9009" echo winscp-upload.cmd: PowerShell was not found: check the file with certutil -hashfile FILE SHA256 and compare by eye.
exit /b %UM_SHA_RC%

rem Checks that UM_FILE (UM_WHAT) is a file WinSCP can be given (no percent sign in its path).
:check_file
powershell.exe -NoLogo -NoProfile -NonInteractive -Command "$p = $env:UM_FILE; $w = $env:UM_WHAT; if ($p.Contains([string][char]37)) { Write-Host ('winscp-upload.cmd: ' + $w + ': the path holds a percent sign, which WinSCP would expand; rename it: ' + $p); exit 3 }; if (-not (Test-Path -LiteralPath $p -PathType Leaf)) { Write-Host ('winscp-upload.cmd: ' + $w + ' is not a file: ' + $p); exit 2 }; Write-Host ('winscp-upload.cmd: found ' + $w + ': ' + $p); exit 0"
set "UM_SHA_RC=%ERRORLEVEL%"
if "%UM_SHA_RC%"=="9009" echo winscp-upload.cmd: PowerShell was not found: it is needed to check the files.
exit /b %UM_SHA_RC%

rem Compares the SHA-1 of UM_FILE (the ISO) with the line the manifest UM_MANIFEST gives for
rem UM_ISO_NAME: "<sha1>  <name>", "<sha1> *<name>" or "SHA1(<name>)= <sha1>". No line for the
rem ISO, or lines that disagree, are refused.
:check_manifest
powershell.exe -NoLogo -NoProfile -NonInteractive -Command "$p = $env:UM_FILE; $m = $env:UM_MANIFEST; $n = $env:UM_ISO_NAME; if ($p.Contains([string][char]37)) { Write-Host ('winscp-upload.cmd: the ISO: the path holds a percent sign, which WinSCP would expand; rename it: ' + $p); exit 3 }; if (-not (Test-Path -LiteralPath $p -PathType Leaf)) { Write-Host ('winscp-upload.cmd: the ISO is not a file: ' + $p); exit 2 }; if (-not (Test-Path -LiteralPath $m -PathType Leaf)) { Write-Host ('winscp-upload.cmd: the manifest is not a file: ' + $m); exit 2 }; $want = @(); foreach ($l in @(Get-Content -LiteralPath $m)) { $l = ([string]$l).Trim(); foreach ($t in @(('SHA1(' + $n + ')'), ('SHA1 (' + $n + ')'))) { if ($l.StartsWith($t, [StringComparison]::Ordinal)) { $r = $l.Substring($t.Length).TrimStart(); if ($r.StartsWith('=')) { $want += $r.Substring(1).Trim().ToLowerInvariant() } } }; foreach ($t in @((' ' + $n), ('*' + $n))) { if ($l.EndsWith($t, [StringComparison]::Ordinal)) { $h = $l.Substring(0, $l.Length - $t.Length).Trim(); if ($h -and -not $h.Contains(' ')) { $want += $h.ToLowerInvariant() } } } }; $want = @($want | Sort-Object -Unique); if ($want.Count -eq 0) { Write-Host ('winscp-upload.cmd: the manifest has no line for ' + $n + ': ' + $m); Write-Host 'Download the ISO and its manifest again, of the same build.'; exit 4 }; if ($want.Count -gt 1) { Write-Host ('winscp-upload.cmd: the manifest gives different SHA-1 values for ' + $n + ': ' + ($want -join ', ')); exit 4 }; if ($want[0] -notmatch '^[0-9a-f]{40}$') { Write-Host ('winscp-upload.cmd: the manifest value for ' + $n + ' is not a SHA-1: ' + $want[0]); exit 4 }; Write-Host ('winscp-upload.cmd: checking the ISO against the manifest (SHA-1): ' + $p); $h = (Get-FileHash -Algorithm SHA1 -LiteralPath $p).Hash.ToLowerInvariant(); if ($h -ne $want[0]) { Write-Host 'winscp-upload.cmd: the ISO does not match the vendor manifest.'; Write-Host ('  manifest SHA-1: ' + $want[0]); Write-Host ('  actual SHA-1:   ' + $h); Write-Host 'Download the ISO again; if the checksum still differs, download the manifest again and compare both with the vendor download page.'; exit 1 }; Write-Host ('  SHA-1 OK: ' + $h); exit 0"
set "UM_SHA_RC=%ERRORLEVEL%"
if "%UM_SHA_RC%"=="9009" echo winscp-upload.cmd: PowerShell was not found: check the ISO with certutil -hashfile ISO SHA1 and compare with the manifest by eye.
exit /b %UM_SHA_RC%

:finish
if not defined UM_NO_PAUSE pause
endlocal & exit /b %UM_RC%
