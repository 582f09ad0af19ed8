@echo off
rem winscp-fetch-evidence.cmd: copy the upgrade agent's evidence and the upgrade logs from a Usage
rem Meter appliance to this workstation with WinSCP, for the appliance and the change named in the
rem values below. Run it before a snapshot is reverted (the revert deletes them), and after a good
rem night, for the change ticket.
rem
rem   winscp-fetch-evidence.cmd [FOLDER]
rem
rem FOLDER must be new or empty; without it, the appliance's evidence folder in the change package
rem (UM_DEST_RELPATH below, relative to this file). First, on the appliance's console as root, run
rem the agent's report command (bash UM_AGENT_AFTER report): it rewrites the evidence from the
rem agent's records. Then this file runs winscp-fetch-evidence.txt with winscp.com (/ini=nul: no
rem stored settings; the host key is pinned in the script; binary mode), which copies the agent's
rem folder whole and the inplaceupgradeum-* logs where there are any, logging to
rem winscp-fetch-evidence.log next to this file. WinSCP asks for root's password. After the copy
rem it checks that the evidence JSON of this upgrade is there and that each evidence JSON has the
rem digest it records (the agent writes into the file the SHA-256 of its text with the digest
rem field empty). Nothing on the appliance is changed.
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
set "UM_TICKET="
set "UM_STATE_DIR="
set "UM_STATE_NAME="
set "UM_INSTALL_LOGS_NAME="
set "UM_BACKUP_LOGS_NAME="
set "UM_EVIDENCE_JSON="
set "UM_AGENT_AFTER="
set "UM_DEST_RELPATH="
set "UM_HOSTKEY="
set "UM_SCRIPT_NAME="
set "UM_LOG_NAME="
rem --- end of values ---
set "UM_SCRIPT=%~dp0%UM_SCRIPT_NAME%"
set "UM_LOG=%~dp0%UM_LOG_NAME%"
if "%UM_HOSTKEY%"=="" goto no_host_key

set "UM_DEST=%~dp0%UM_DEST_RELPATH%"
if not "%~1"=="" set "UM_DEST=%~1"
if not "%~2"=="" goto usage
if /i "%UM_DEST%"=="/?" goto usage
if /i "%UM_DEST%"=="-h" goto usage
if /i "%UM_DEST%"=="--help" goto usage
if "%UM_DEST:~-1%"=="\" set "UM_DEST=%UM_DEST:~0,-1%"

set "UM_WINSCP="
if defined WINSCP_COM set "UM_WINSCP=%WINSCP_COM%"
if not defined UM_WINSCP for %%W in (WinSCP.com) do set "UM_WINSCP=%%~$PATH:W"
if not defined UM_WINSCP if exist "%ProgramFiles(x86)%\WinSCP\WinSCP.com" set "UM_WINSCP=%ProgramFiles(x86)%\WinSCP\WinSCP.com"
if not defined UM_WINSCP if exist "%ProgramFiles%\WinSCP\WinSCP.com" set "UM_WINSCP=%ProgramFiles%\WinSCP\WinSCP.com"
if not defined UM_WINSCP if exist "%LOCALAPPDATA%\Programs\WinSCP\WinSCP.com" set "UM_WINSCP=%LOCALAPPDATA%\Programs\WinSCP\WinSCP.com"
if not defined UM_WINSCP goto no_winscp
if not exist "%UM_SCRIPT%" goto no_script

set "UM_FILE=%UM_DEST%"
call :prepare
if errorlevel 1 goto refused

echo winscp-fetch-evidence.cmd: connecting to root@%UM_HOST% port %UM_PORT%; the host key must be:
echo   %UM_HOSTKEY%
echo winscp-fetch-evidence.cmd: copying %UM_STATE_DIR% and the upgrade logs; log file:
echo   "%UM_LOG%"
"%UM_WINSCP%" /ini=nul /log="%UM_LOG%" /script="%UM_SCRIPT%" /parameter // "%UM_DEST%" "%UM_DEST%\logs\%UM_INSTALL_LOGS_NAME%" "%UM_DEST%\logs\%UM_BACKUP_LOGS_NAME%"
set "UM_WINSCP_RC=%ERRORLEVEL%"

set "UM_FILE=%UM_DEST%"
call :check_evidence
if errorlevel 1 goto failed
if not "%UM_WINSCP_RC%"=="0" goto partly

echo.
echo winscp-fetch-evidence.cmd: FETCHED: the evidence of %UM_APPLIANCE% is in "%UM_DEST%", its digest checked.
echo Attach to change %UM_TICKET% the evidence files named above and the logs in "%UM_DEST%\logs".
set "UM_RC=0"
goto finish

:partly
echo.
echo winscp-fetch-evidence.cmd: FETCHED, WITH WINSCP ERRORS: the evidence of %UM_APPLIANCE% is in
echo "%UM_DEST%", its digest checked, but WinSCP stopped with exit code %UM_WINSCP_RC%. A log folder the
echo appliance does not have is one such error; read the messages above and the log for the others.
set "UM_RC=1"
goto finish

:usage
echo usage: winscp-fetch-evidence.cmd [FOLDER]
echo   Copies the agent's evidence (%UM_STATE_DIR%) and the upgrade logs of %UM_APPLIANCE%
echo   (root@%UM_HOST% port %UM_PORT%) into FOLDER, which must be new or empty, then checks the
echo   evidence's digest. First, on the appliance as root: bash %UM_AGENT_AFTER% report
set "UM_RC=2"
goto finish

:no_host_key
echo winscp-fetch-evidence.cmd: REFUSED: the inventory has no SSH host key for %UM_APPLIANCE% (%UM_HOST%, port %UM_PORT%).
echo Without it the first connection would have to trust whatever key answers. Nothing was copied.
echo.
echo To add the key:
echo   1. On the appliance's console, logged in as root, print each host key's fingerprint and line:
echo        for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -E sha256 -f "$f"; cat "$f"; done
echo   2. Copy the ssh-ed25519 line (its type and key, "ssh-ed25519 AAAA...") into the inventory as
echo      ssh_host_key of %UM_APPLIANCE%.
echo   3. Render the change package again, and use the new winscp-fetch-evidence.cmd.
set "UM_RC=1"
goto finish

:no_winscp
echo winscp-fetch-evidence.cmd: REFUSED: WinSCP.com was not found (PATH, Program Files, the user's programs).
echo Install WinSCP, or set WINSCP_COM to the full path of WinSCP.com. Nothing was copied.
set "UM_RC=1"
goto finish

:no_script
echo winscp-fetch-evidence.cmd: REFUSED: %UM_SCRIPT_NAME% is missing next to this file.
echo Use the transfer folder as the change package holds it. Nothing was copied.
set "UM_RC=1"
goto finish

:refused
echo winscp-fetch-evidence.cmd: REFUSED: nothing was copied.
set "UM_RC=1"
goto finish

:failed
echo.
echo winscp-fetch-evidence.cmd: FAILED: the copy in "%UM_DEST%" is not the agent's evidence (see above).
echo WinSCP's exit code was %UM_WINSCP_RC%; its log is "%UM_LOG%". On the appliance run
echo   bash %UM_AGENT_AFTER% report
echo then run winscp-fetch-evidence.cmd again, naming a new folder.
set "UM_RC=1"
goto finish

rem Creates UM_FILE (UM_DEST) and its two log folders: it must be new or empty (a second copy never
rem mixes with a first), and hold no percent sign (WinSCP would expand it). PowerShell reads the
rem path from the environment, so no character of it is parsed here.
:prepare
powershell.exe -NoLogo -NoProfile -NonInteractive -Command "$p = $env:UM_FILE; if ($p.Contains([string][char]37)) { Write-Host ('winscp-fetch-evidence.cmd: the folder holds a percent sign, which WinSCP would expand; name another: ' + $p); exit 3 }; if (Test-Path -LiteralPath $p -PathType Leaf) { Write-Host ('winscp-fetch-evidence.cmd: FOLDER is a file: ' + $p); exit 2 }; if ((Test-Path -LiteralPath $p) -and @(Get-ChildItem -LiteralPath $p -Force).Count -gt 0) { Write-Host ('winscp-fetch-evidence.cmd: ' + $p + ' is not empty: it may hold an earlier copy, which this one must not mix with. Name a new folder.'); exit 2 }; foreach ($s in @('', ('logs\' + $env:UM_INSTALL_LOGS_NAME), ('logs\' + $env:UM_BACKUP_LOGS_NAME))) { $null = New-Item -ItemType Directory -Force -Path (Join-Path $p $s) }; Write-Host ('winscp-fetch-evidence.cmd: copying into ' + $p); exit 0"
set "UM_PS_RC=%ERRORLEVEL%"
if "%UM_PS_RC%"=="9009" echo winscp-fetch-evidence.cmd: PowerShell was not found: it is needed to prepare the folder and check the copy.
exit /b %UM_PS_RC%

rem Every evidence-*.json of the copy in UM_FILE (UM_DEST) against the digest it records: the SHA-256 of its bytes with
rem the digest field made empty (read as ISO-8859-1, which maps each byte to one character). The
rem evidence JSON of this upgrade must be among them.
:check_evidence
powershell.exe -NoLogo -NoProfile -NonInteractive -Command "$p = $env:UM_FILE; $d = Join-Path $p $env:UM_STATE_NAME; $own = Join-Path $d $env:UM_EVIDENCE_JSON; if (-not (Test-Path -LiteralPath $own -PathType Leaf)) { Write-Host ('winscp-fetch-evidence.cmd: the copy holds no ' + $env:UM_EVIDENCE_JSON + ': the agent has written no evidence for this upgrade, or the copy stopped.'); exit 1 }; $latin = [Text.Encoding]::GetEncoding(28591); $sha = [Security.Cryptography.SHA256]::Create(); $bad = 0; foreach ($f in @(Get-ChildItem -LiteralPath $d -Filter 'evidence-*.json' -File)) { $t = $latin.GetString([IO.File]::ReadAllBytes($f.FullName)); $m = [regex]::Match($t, '(?m)^  \x22digest\x22: \x22sha256:([0-9a-f]{64})\x22,$'); if (-not $m.Success) { Write-Host ('winscp-fetch-evidence.cmd: ' + $f.Name + ' records no digest: it is not the agent evidence, or it was cut short.'); $bad = 1; continue }; $blank = $t.Remove($m.Groups[1].Index - 7, 71); $h = -join ($sha.ComputeHash($latin.GetBytes($blank)) | ForEach-Object { $_.ToString('x2') }); if ($h -ne $m.Groups[1].Value) { Write-Host ('winscp-fetch-evidence.cmd: ' + $f.Name + ' is not the file the agent wrote: its digest does not match.'); Write-Host ('  recorded: sha256:' + $m.Groups[1].Value); Write-Host ('  actual:   sha256:' + $h); $bad = 1; continue }; Write-Host ('  digest OK: ' + $f.FullName) }; if ($bad) { exit 1 }; exit 0"
set "UM_PS_RC=%ERRORLEVEL%"
if "%UM_PS_RC%"=="9009" echo winscp-fetch-evidence.cmd: PowerShell was not found: check the evidence by hand.
exit /b %UM_PS_RC%

:finish
if not defined UM_NO_PAUSE pause
endlocal & exit /b %UM_RC%
