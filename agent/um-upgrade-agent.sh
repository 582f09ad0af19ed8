#!/bin/bash
# um-upgrade-agent.sh: runs the on-appliance steps of an in-place upgrade of a VMware Usage Meter #
# appliance (umrunbook). Generated per appliance: the "#@ key=value" lines below are that #
# appliance's manifest (values only, never commands); the logic is the reviewed script below them. #
# Run as root:  bash um-upgrade-agent.sh help #
#@@MANIFEST@@
if [ -z "${BASH_VERSION:-}" ]; then echo "um-upgrade-agent: FAIL: this is a bash script: run it as: bash um-upgrade-agent.sh help" >&2; exit 2; fi #
if [ "${BASH_VERSINFO[0]}" -lt 4 ] || { [ "${BASH_VERSINFO[0]}" -eq 4 ] && [ "${BASH_VERSINFO[1]}" -lt 2 ]; }; then echo "um-upgrade-agent: FAIL: bash 4.2 or later is needed, this is bash ${BASH_VERSION}: run it on the appliance as root" >&2; exit 1; fi #
UM_SELF="${BASH_SOURCE[0]:-}" #
# Sourced ('. um-upgrade-agent.sh', as the unit tests do): constants and functions only, no check, no main. #
UM_SOURCED=0; if [[ -n "$UM_SELF" && "$UM_SELF" != "$0" ]]; then UM_SOURCED=1; fi #
if ((UM_SOURCED == 0)) && { [ -z "$UM_SELF" ] || [ ! -f "$UM_SELF" ] || [ ! -r "$UM_SELF" ]; }; then echo "um-upgrade-agent: FAIL: run this agent as a file (bash um-upgrade-agent.sh COMMAND), not from a pipe" >&2; exit 2; fi #
UM_TEXT=""; if ((UM_SOURCED == 0)); then UM_TEXT="$(< "$UM_SELF")"; fi #
if ((UM_SOURCED == 0)) && [[ "$UM_TEXT" == *$'\r'* ]]; then printf '%s\n' "um-upgrade-agent: INTEGRITY: $UM_SELF has Windows (CRLF) line endings: it was transferred in text mode, which changes the file." "Upload it again in BINARY mode (WinSCP: Preferences > Transfer > Binary; scp/sftp always copy binary), check it with sha256sum -c as the runbook shows, then run it again." >&2; exit 4; fi #
if ((UM_SOURCED == 0)) && [[ "$UM_TEXT" != *$'\n''# end of um-upgrade-agent.sh' ]]; then printf '%s\n' "um-upgrade-agent: INTEGRITY: $UM_SELF is truncated: its last line is not the end marker (the transfer stopped early)." "Upload it again (binary mode), check it with sha256sum -c as the runbook shows, then run it again." >&2; exit 4; fi #
unset UM_TEXT #

set -Eeuo pipefail
shopt -u patsub_replacement 2>/dev/null || true
export LC_ALL=C
umask 077

readonly UM_PROG="um-upgrade-agent"
readonly UM_NAME="um-upgrade-agent.sh"
readonly UM_END_MARKER="# end of um-upgrade-agent.sh"
readonly UM_MANIFEST_VERSION=2
# The manifest's keys, in order: the generator writes them here from its own list.
#@@MANIFEST_KEYS@@
# The vendor's ISO procedure as field reports give it: the operator runs these by hand, since the
# script asks questions on the console; the agent prints them and never runs them.
readonly ISO_VENDOR_COMMANDS=("mkdir -p /root/upgrade" "mount -o loop /dev/cdrom /root/upgrade" "bash /root/upgrade/upgrade-um.sh")
readonly UM_EVIDENCE_SCHEMA="umrunbook-agent-evidence/1"
readonly BOOT_ID_FILE="/proc/sys/kernel/random/boot_id"

declare -A M=()
UM_SELF_SHA256=""
UM_FILE_SHA256=""

# --- integrity: runs before anything else ------------------------------------------------------
# Bash reads a script as it goes, so this runs even when the end of the file is missing.
integrity_fail() {
  printf 'um-upgrade-agent: INTEGRITY: %s\n' "$@" >&2
  exit 4
}

verify_self() {
  local -a lines=()
  local line key value n i expected actual
  local self_lines=0 have_keys=""
  if ! command -v sha256sum >/dev/null 2>&1; then
    integrity_fail "sha256sum is not found, so this agent cannot check itself or the bundle." \
      "It refuses to go on unchecked: run it on the Usage Meter appliance (coreutils provides sha256sum)."
  fi
  mapfile lines <"$UM_SELF"
  n=${#lines[@]}
  if ((n == 0)) || [[ "${lines[n - 1]}" != "$UM_END_MARKER"$'\n' ]]; then
    integrity_fail "$UM_SELF is truncated: its last line is not '$UM_END_MARKER' (the transfer stopped early)." \
      "Upload it again (binary mode), check it with sha256sum -c as the runbook shows, then run it again."
  fi
  for ((i = 0; i < n; i++)); do
    line=${lines[i]}
    [[ "$line" == '#@ '* ]] || continue
    line=${line%$'\n'}
    line=${line#'#@ '}
    if [[ "$line" != *=* ]]; then
      integrity_fail "manifest line '#@ $line' has no '=': the manifest was edited." \
        "Use the agent file from the change package as generated; render it again if the inventory changed."
    fi
    key=${line%%=*}
    value=${line#*=}
    if [[ -n "${M[$key]+x}" ]]; then
      integrity_fail "manifest key '$key' appears twice: the manifest was edited." \
        "Use the agent file from the change package as generated."
    fi
    M[$key]=$value
    have_keys+="$key "
    if [[ "$key" == self_sha256 ]]; then
      self_lines=$((self_lines + 1))
    fi
  done
  if [[ -z "$have_keys" ]]; then
    integrity_fail "$UM_SELF holds no manifest: this is the agent's source, not an agent generated for an appliance." \
      "Generate the change package (umrunbook render) and use DIR/<appliance>/agent/$UM_NAME."
  fi
  expected="${UM_MANIFEST_KEYS[*]} "
  if [[ "$have_keys" != "$expected" ]]; then
    integrity_fail "the manifest's keys are not the expected ones, in order (found: ${have_keys% }; expected: ${expected% })." \
      "The manifest was edited or comes from another generator version: use the agent file from the change package."
  fi
  if ((self_lines != 1)); then
    integrity_fail "the manifest holds $self_lines self_sha256 lines instead of one: the file was edited."
  fi
  expected=${M[self_sha256]}
  actual=$(
    for ((i = 0; i < n; i++)); do
      [[ "${lines[i]}" == '#@ self_sha256='* ]] || printf '%s' "${lines[i]}"
    done | sha256sum
  )
  actual=${actual%% *}
  if [[ "$actual" != "$expected" ]]; then
    integrity_fail "$UM_SELF was changed after it was generated: its SHA-256 (without the self_sha256 line) is $actual, the manifest says $expected." \
      "The manifest or the script was edited, or the file was damaged in transfer. Upload the generated file again in binary mode, check it with sha256sum -c as the runbook shows, and never edit it: to change a value, render the package again."
  fi
  UM_SELF_SHA256=$actual
  actual=$(sha256sum <"$UM_SELF")
  UM_FILE_SHA256=${actual%% *}
  if [[ "${M[manifest_version]}" != "$UM_MANIFEST_VERSION" ]]; then
    integrity_fail "manifest_version ${M[manifest_version]} is not understood by this agent (it reads version $UM_MANIFEST_VERSION)."
  fi
}

if ((UM_SOURCED == 0)); then verify_self; fi

# --- helpers -----------------------------------------------------------------------------------

say() {
  printf '%s\n' "$*"
}

note() {
  printf '%s: %s\n' "$UM_PROG" "$*"
}

die() {
  local code=$1
  shift
  printf '%s: %s\n' "$UM_PROG" "$1" >&2
  shift
  if (($# > 0)); then
    printf '%s\n' "$@" >&2
  fi
  exit "$code"
}

need_cmd() {
  if ! command -v "$1" >/dev/null 2>&1; then
    die 1 "FAIL: the command '$1' is needed and not found on this system (it is part of ${2:-coreutils})." \
      "Nothing was changed. Run the agent on the Usage Meter appliance itself."
  fi
}

have_cmd() {
  command -v "$1" >/dev/null 2>&1
}

now_iso() {
  date -u +%Y-%m-%dT%H:%M:%SZ
}

now_epoch() {
  printf '%(%s)T' -1
}

# A value as one line: state, journal and evidence never hold a raw newline or tab from outside.
one_line() {
  local s=$1
  s=${s//$'\r'/ }
  s=${s//$'\n'/ }
  s=${s//$'\t'/ }
  printf '%s' "$s"
}

quote_argv() {
  local out="" a q
  for a in "$@"; do
    printf -v q '%q' "$a"
    out+="${out:+ }$q"
  done
  printf '%s' "$out"
}

strip_ansi() {
  local s=$1
  local re=$'\e''\[[0-9;?<=>]*[ -/]*[@-~]'
  local re2=$'\e''\][^'$'\a'']*'$'\a'
  local re3=$'\e''[()][0-9A-Za-z]'
  while [[ "$s" =~ $re ]]; do s=${s/"${BASH_REMATCH[0]}"/}; done
  while [[ "$s" =~ $re2 ]]; do s=${s/"${BASH_REMATCH[0]}"/}; done
  while [[ "$s" =~ $re3 ]]; do s=${s/"${BASH_REMATCH[0]}"/}; done
  s=${s//$'\e'/}
  printf '%s' "$s"
}

# Text from outside programs in the evidence: escapes removed, printable ASCII, tabs and newlines.
printable_text() {
  strip_ansi "$1" | tr -c '\11\12\40-\176' '?'
}

tail_lines() {
  local n=$1 file=$2
  if [[ -r "$file" ]]; then
    tail -n "$n" -- "$file" || true
  fi
}

# --- options and manifest values ----------------------------------------------------------------

COMMAND=""
DRY_RUN=0
ASSUME_YES=0
OPT_SNAPSHOT=""
OPT_SNAPSHOT_SET=0
OPT_REBOOT=0
OPT_KEEP_SSH=0
OPT_TIMEOUT=""
OPT_POLL_INTERVAL=10

INSTALL_DIR=""
BACKUP_DIR=""
STATE_DIR=""
UPLOAD_DIR=""
RUN_DIR=""
STATE_FILE=""
AGENT_COPY=""
AGENT_COPY_TARGET=""
EVIDENCE_BASE=""
BUNDLE_PATH=""
IS_ISO=0

safe_name() {
  local s=$1
  s=${s//[^A-Za-z0-9._-]/_}
  printf '%s' "${s:-none}"
}

manifest_refused() {
  die 4 "INTEGRITY: manifest value $1." "Render the package again."
}

setup_paths() {
  local k
  for k in install_dir backup_dir state_dir upload_dir; do
    if [[ "${M[$k]}" != /* ]]; then
      manifest_refused "$k='${M[$k]}' is not an absolute path"
    fi
  done
  case "${M[delivery]}" in
    shar | iso) ;;
    *) manifest_refused "delivery='${M[delivery]}' is neither shar nor iso" ;;
  esac
  for k in bundle_file iso_file manifest_file certificate_file signature_file; do
    if [[ -n "${M[$k]}" && ! "${M[$k]}" =~ ^[A-Za-z0-9._-]+$ ]]; then
      manifest_refused "$k='${M[$k]}' is not a plain file name"
    fi
  done
  if [[ -z "${M[bundle_file]}" ]]; then
    manifest_refused "bundle_file is empty"
  fi
  if [[ -n "${M[bundle_sha256]}" || "${M[delivery]}" == shar ]] && [[ ! "${M[bundle_sha256]}" =~ ^[0-9a-f]{64}$ ]]; then
    manifest_refused "bundle_sha256 is not 64 lowercase hex digits"
  fi
  if [[ "${M[delivery]}" == iso ]]; then
    IS_ISO=1
    for k in iso_file manifest_file certificate_file signature_file; do
      [[ -n "${M[$k]}" ]] || manifest_refused "$k is empty for an ISO bundle"
    done
    if [[ "${M[iso_file]}" != "${M[bundle_file]}" ]]; then
      manifest_refused "iso_file='${M[iso_file]}' is not bundle_file='${M[bundle_file]}'"
    fi
    if [[ "${M[reboot_required]}" != yes ]]; then
      manifest_refused "reboot_required='${M[reboot_required]}': an ISO upgrade is verified after a reboot"
    fi
  else
    for k in iso_file manifest_file certificate_file signature_file; do
      [[ -z "${M[$k]}" ]] || manifest_refused "$k='${M[$k]}' is set for a .shar bundle"
    done
    if [[ "${M[upload_dir]%/}" != "${M[install_dir]%/}" ]]; then
      manifest_refused "upload_dir='${M[upload_dir]}' is not install_dir for a .shar bundle (it runs there)"
    fi
  fi
  for k in free_space_factor free_space_min_mb status_timeout; do
    if [[ ! "${M[$k]}" =~ ^[0-9]+$ ]]; then
      manifest_refused "$k='${M[$k]}' is not a whole number"
    fi
  done
  INSTALL_DIR=${M[install_dir]%/}
  BACKUP_DIR=${M[backup_dir]%/}
  STATE_DIR=${M[state_dir]%/}
  UPLOAD_DIR=${M[upload_dir]%/}
  BUNDLE_PATH="$UPLOAD_DIR/${M[bundle_file]}"
  # One appliance may go through several hops (4.2 -> 4.3 -> 4.7): state and evidence are per
  # appliance, ticket and target, so that the hops' records sit side by side.
  local tag
  tag="$(safe_name "${M[appliance]}")-$(safe_name "${M[ticket]}")-$(safe_name "${M[target]}")"
  RUN_DIR="$STATE_DIR/run-$tag"
  STATE_FILE="$RUN_DIR/state"
  AGENT_COPY="$STATE_DIR/$UM_NAME"
  AGENT_COPY_TARGET="$STATE_DIR/um-upgrade-agent-$(safe_name "${M[target]}").sh"
  EVIDENCE_BASE="$STATE_DIR/evidence-$tag"
}

usage() {
  local upgrade_text
  if ((IS_ISO)); then
    upgrade_text="preflight, a typed confirmation, records the start (boot id); then prints the
              vendor's commands (upgrade-um.sh asks questions: you run it on the console)"
  else
    upgrade_text="preflight, a typed confirmation, then runs 'bash ${M[bundle_file]}' in
              ${M[install_dir]} with its output shown and logged; says what to do next"
  fi
  cat <<EOF
Usage: bash $UM_NAME COMMAND [OPTIONS]

In-place upgrade of the Usage Meter appliance '${M[appliance]}' (${M[host]}) to ${M[target]},
change ${M[ticket]}. Run as root on the appliance.

Commands:
  preflight   every check, each printed PASS / WARN / FAIL with its reason; changes nothing
              on the appliance (records its results in ${STATE_DIR:-the state folder})
  upgrade     $upgrade_text
  verify      after the upgrade (and the reboot where the procedure has one): folders, version,
              services (waits until they run), upgrade log; writes the evidence; stops sshd
  status      where this appliance is in the procedure, and the exact next command
  report      writes and prints the evidence (JSON and Markdown) for the change ticket
  help        this text

Options:
  --dry-run               print every action it would take; change nothing, run nothing
  --yes                   no questions: confirmations are taken as given (recorded as such)
  --snapshot NAME         the snapshot or backup taken before the upgrade (preflight, upgrade)
  --reboot                upgrade: reboot by itself once the bundle succeeded (when needed)
  --keep-ssh              verify: leave sshd running
  --timeout SECONDS       verify: how long to wait for the services (default ${M[status_timeout]})
  --poll-interval SECONDS verify: time between two service checks (default 10)

Exit codes: 0 ok, 1 a check failed, 2 usage, 3 wrong phase for that command,
4 integrity (this agent or the bundle is not what the manifest says).
State and evidence: ${STATE_DIR:-the state folder}
EOF
}

usage_error() {
  printf '%s: %s\n%s\n' "$UM_PROG" "$1" "Run: bash $UM_NAME help" >&2
  exit 2
}

parse_args() {
  while (($# > 0)); do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --yes | -y) ASSUME_YES=1 ;;
      --reboot) OPT_REBOOT=1 ;;
      --keep-ssh) OPT_KEEP_SSH=1 ;;
      --snapshot | --timeout | --poll-interval)
        if (($# < 2)); then
          usage_error "option $1 needs a value."
        fi
        case "$1" in
          --snapshot)
            OPT_SNAPSHOT=$(one_line "$2")
            OPT_SNAPSHOT_SET=1
            ;;
          --timeout) OPT_TIMEOUT=$2 ;;
          --poll-interval) OPT_POLL_INTERVAL=$2 ;;
        esac
        shift
        ;;
      --snapshot=*)
        OPT_SNAPSHOT=$(one_line "${1#*=}")
        OPT_SNAPSHOT_SET=1
        ;;
      --timeout=*) OPT_TIMEOUT=${1#*=} ;;
      --poll-interval=*) OPT_POLL_INTERVAL=${1#*=} ;;
      -h | --help) COMMAND=help ;;
      -*) usage_error "unknown option '$1'." ;;
      *)
        if [[ -n "$COMMAND" && "$COMMAND" != help ]]; then
          usage_error "one command at a time (got '$COMMAND' and '$1')."
        fi
        [[ -n "$COMMAND" ]] || COMMAND=$1
        ;;
    esac
    shift
  done
  if [[ -n "$OPT_TIMEOUT" && ! "$OPT_TIMEOUT" =~ ^[0-9]+$ ]]; then
    usage_error "--timeout needs a whole number of seconds (got '$OPT_TIMEOUT')."
  fi
  if [[ ! "$OPT_POLL_INTERVAL" =~ ^[0-9]+$ ]] || ((OPT_POLL_INTERVAL < 1)); then
    usage_error "--poll-interval needs a whole number of seconds, 1 or more (got '$OPT_POLL_INTERVAL')."
  fi
  if [[ -z "$COMMAND" ]]; then
    usage_error "no command given."
  fi
}

# --- state: key=value lines, written to a temporary file, synced, renamed -------------------------

declare -A S=()

state_load() {
  local line
  S=()
  if [[ -e "$STATE_FILE" && ! -f "$STATE_FILE" ]] || [[ -f "$STATE_FILE" && ! -r "$STATE_FILE" ]]; then
    die 1 "FAIL: the agent's state $STATE_FILE is not a readable file: the state folder was damaged or edited." \
      "Nothing was done. Do not run upgrade again before checking $RUN_DIR by hand (the bundle must never run twice)."
  fi
  [[ -f "$STATE_FILE" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" == *=* ]] || continue
    S[${line%%=*}]=${line#*=}
  done <"$STATE_FILE"
}

state_get() {
  printf '%s' "${S[$1]:-}"
}

ensure_run_dir() {
  if ((DRY_RUN)); then
    return 0
  fi
  if [[ ! -d "$RUN_DIR" ]]; then
    mkdir -p -- "$RUN_DIR"
    chmod 700 -- "$STATE_DIR" "$RUN_DIR" 2>/dev/null || true
  fi
}

# state_set KEY VALUE [KEY VALUE]...
state_set() {
  local tmp k
  while (($# >= 2)); do
    S[$1]=$(one_line "$2")
    shift 2
  done
  if ((DRY_RUN)); then
    return 0
  fi
  ensure_run_dir
  tmp="$STATE_FILE.tmp.$$"
  {
    for k in "${!S[@]}"; do
      printf '%s=%s\n' "$k" "${S[$k]}"
    done
  } >"$tmp"
  sync
  mv -f -T -- "$tmp" "$STATE_FILE"
  sync
}

journal_append() {
  local file=$1
  shift
  local line="" f
  if ((DRY_RUN)); then return 0; fi
  ensure_run_dir
  for f in "$@"; do
    f=$(one_line "$f")
    line+="${line:+$'\t'}${f:--}"
  done
  printf '%s\n' "$line" >>"$RUN_DIR/$file"
}

LOCK_HELD=0
acquire_lock() {
  local lock="$STATE_DIR/.lock" other
  if ((DRY_RUN)); then return 0; fi
  mkdir -p -- "$STATE_DIR"
  chmod 700 -- "$STATE_DIR" 2>/dev/null || true
  if have_cmd flock; then
    exec 9>>"$lock"
    if ! flock -n 9; then
      die 3 "WRONG PHASE: another run of this agent holds $lock (it is still working)." \
        "Wait for it to finish; see where it stands with: bash $AGENT_COPY status"
    fi
  else
    # Without flock: a lock file holding our PID; one left by a power cut names a dead process.
    if ! (set -C && printf '%s\n' "$$" >"$lock.pid") 2>/dev/null; then
      other=$(cat -- "$lock.pid" 2>/dev/null || true)
      if [[ "$other" =~ ^[0-9]+$ ]] && kill -0 "$other" 2>/dev/null; then
        die 3 "WRONG PHASE: another run of this agent (PID $other) is still working." \
          "Wait for it to finish; see where it stands with: bash $AGENT_COPY status"
      fi
      printf '%s\n' "$$" >"$lock.pid"
    fi
    trap 'rm -f -- "$STATE_DIR/.lock.pid"' EXIT
  fi
  LOCK_HELD=1
}

lock_is_held_by_other() {
  local lock="$STATE_DIR/.lock" other
  if ((LOCK_HELD)); then
    return 1
  fi
  if have_cmd flock; then
    [[ -e "$lock" ]] || return 1
    if flock -n "$lock" true 2>/dev/null; then
      return 1
    fi
    return 0
  fi
  other=$(cat -- "$lock.pid" 2>/dev/null || true)
  [[ "$other" =~ ^[0-9]+$ ]] && kill -0 "$other" 2>/dev/null
}

# --- running commands -------------------------------------------------------------------------

LAST_RC=0
# run DESCRIPTION CMD [ARG]...: shows and records the command; --dry-run only prints it.
run() {
  local desc=$1
  shift
  local start end rc=0
  if ((DRY_RUN)); then
    say "DRY-RUN: would $desc: $(quote_argv "$@")"
    LAST_RC=0
    return 0
  fi
  say "+ $(quote_argv "$@")"
  start=$(now_epoch)
  "$@" || rc=$?
  end=$(now_epoch)
  LAST_RC=$rc
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "$desc" "$(quote_argv "$@")" "$rc" "$((end - start))"
  return "$rc"
}

# --- checks -------------------------------------------------------------------------------------

CHECK_FAILS=0
CHECK_WARNS=0
CHECK_INTEGRITY=0

check() {
  local result=$1 name=$2 reason=$3
  printf '%-4s  %-16s %s\n' "$result" "$name" "$reason"
  case "$result" in
    FAIL) CHECK_FAILS=$((CHECK_FAILS + 1)) ;;
    WARN) CHECK_WARNS=$((CHECK_WARNS + 1)) ;;
  esac
  journal_append checks.tsv "$(now_iso)" "$COMMAND" "$name" "$result" "$reason"
}

check_integrity_fail() {
  CHECK_INTEGRITY=$((CHECK_INTEGRITY + 1))
  check FAIL "$1" "$2"
}

show_block() {
  local line
  while IFS= read -r line || [[ -n "$line" ]]; do
    printf '      | %s\n' "$line"
  done <<<"$1"
}

# --- versions -----------------------------------------------------------------------------------
# Versions compare by their numeric parts, missing parts counting as zero (4.2 = 4.2.0 = 4.2.0.0);
# a build number after '-' is shown, never compared.

version_numeric() {
  local v=${1#[vV]}
  v=${v%%-*}
  v=${v%%+*}
  v=${v%%[[:space:]]*}
  if [[ "$v" =~ ^[0-9]+(\.[0-9]+)*$ ]]; then
    printf '%s' "$v"
    return 0
  fi
  return 1
}

# version_cmp A B: prints -1, 0 or 1
version_cmp() {
  local -a a b
  local i n x y
  IFS=. read -r -a a <<<"$1"
  IFS=. read -r -a b <<<"$2"
  n=${#a[@]}
  if ((${#b[@]} > n)); then n=${#b[@]}; fi
  for ((i = 0; i < n; i++)); do
    x=$((10#${a[i]:-0}))
    y=$((10#${b[i]:-0}))
    if ((x < y)); then
      printf '%s' -1
      return 0
    elif ((x > y)); then
      printf '%s' 1
      return 0
    fi
  done
  printf '%s' 0
}

# version_matches VERSION PATTERN: 4.1.x (first parts equal), 4.x, >=4.3 (same major), 4.2 (equal)
version_matches() {
  local v=$1 p=$2 prefix k
  local -a pv vv
  case "$p" in
    '>='*)
      prefix=$(version_numeric "${p#>=}") || return 1
      [[ "$(version_cmp "$v" "$prefix")" != -1 ]] || return 1
      [[ $((10#${v%%.*})) -eq $((10#${prefix%%.*})) ]]
      ;;
    *.x | *.X)
      prefix=$(version_numeric "${p%.[xX]}") || return 1
      IFS=. read -r -a pv <<<"$prefix"
      IFS=. read -r -a vv <<<"$v"
      for ((k = 0; k < ${#pv[@]}; k++)); do
        [[ $((10#${vv[k]:-0})) -eq $((10#${pv[k]})) ]] || return 1
      done
      return 0
      ;;
    *)
      prefix=$(version_numeric "$p") || return 1
      [[ "$(version_cmp "$v" "$prefix")" == 0 ]]
      ;;
  esac
}

version_supported() {
  local v=$1 p
  local -a pats=()
  read -r -a pats <<<"${M[supported_sources]}"
  for p in ${pats[@]+"${pats[@]}"}; do
    if version_matches "$v" "$p"; then
      return 0
    fi
  done
  return 1
}

# Reads the installed version from the candidate files; sets VERSION_FOUND, VERSION_SOURCE and
# VERSION_DETAIL. The appliance's layout is not documented: accept a value only when unambiguous.
VERSION_FOUND=""
VERSION_SOURCE=""
VERSION_DETAIL=""
read_installed_version() {
  local base=$1 rel file line key val num
  local -a files=() found=() where=()
  local re_kv='^[[:space:]]*([A-Za-z0-9_.-]*[Vv][Ee][Rr][Ss][Ii][Oo][Nn][A-Za-z0-9_.-]*)[[:space:]]*[=:][[:space:]]*["'"'"']?[vV]?([0-9]+(\.[0-9]+)+(-[0-9A-Za-z._]+)?)'
  local re_plain='^[[:space:]]*[vV]?([0-9]+(\.[0-9]+)+(-[0-9A-Za-z._]+)?)[[:space:]]*$'
  local preferred='^(version|um[._-]?version|usagemeter[._-]?version|usage[._-]?meter[._-]?version|product[._-]?version|app[._-]?version|appliance[._-]?version|build[._-]?version)$'
  VERSION_FOUND=""
  VERSION_SOURCE=""
  VERSION_DETAIL=""
  read -r -a files <<<"${M[version_files]}"
  if ((${#files[@]} == 0)); then
    VERSION_DETAIL="the catalogue lists no file to read the version from"
    return 1
  fi
  for rel in "${files[@]}"; do
    if [[ "$rel" == /* ]]; then file=$rel; else file="$base/$rel"; fi
    if [[ ! -r "$file" || ! -f "$file" ]]; then
      VERSION_DETAIL+="${VERSION_DETAIL:+; }$file: not found"
      continue
    fi
    local -a pref=() pref_where=() other=()
    while IFS= read -r line || [[ -n "$line" ]]; do
      line=${line%$'\r'}
      [[ "$line" =~ ^[[:space:]]*[#!] ]] && continue
      if [[ "$line" =~ $re_kv ]]; then
        key=${BASH_REMATCH[1]}
        val=${BASH_REMATCH[2]}
        local lkey=${key,,}
        if [[ "$lkey" =~ $preferred ]]; then
          pref+=("$val")
          pref_where+=("$file ($key)")
        else
          other+=("$key=$val")
        fi
      elif [[ "$line" =~ $re_plain ]]; then
        pref+=("${BASH_REMATCH[1]}")
        pref_where+=("$file")
      fi
    done <"$file"
    if ((${#pref[@]} > 0)); then
      found=("${pref[@]}")
      where=("${pref_where[@]}")
    elif ((${#other[@]} > 0)); then
      # Other keys (java.version, db.version...) are some component's version: never taken.
      VERSION_DETAIL+="${VERSION_DETAIL:+; }$file: no product version key, only ${other[*]} (not taken)"
      continue
    else
      VERSION_DETAIL+="${VERSION_DETAIL:+; }$file: no version in it"
      continue
    fi
    num=$(version_numeric "${found[0]}")
    for val in "${found[@]}"; do
      if [[ "$(version_cmp "$(version_numeric "$val")" "$num")" != 0 ]]; then
        VERSION_DETAIL+="${VERSION_DETAIL:+; }$file: several different versions (${found[*]}), none taken"
        found=()
        break
      fi
    done
    if ((${#found[@]} > 0)); then
      VERSION_FOUND=${found[0]}
      VERSION_SOURCE=${where[0]}
      return 0
    fi
  done
  return 1
}

# --- services: scripts/status.sh, its layout undocumented ---------------------------------------

STATUS_RAW=""
STATUS_RC=0
STATUS_RUNNING=0
STATUS_BAD=0
STATUS_OTHER=0
STATUS_BAD_LINES=""
STATUS_HEALTHY=0
STATUS_WHY=""

run_status_script() {
  local dir=$1 script out rc=0
  local -a cmd=()
  script="$dir/scripts/status.sh"
  STATUS_RAW=""
  STATUS_RC=0
  if [[ ! -f "$script" ]]; then
    STATUS_RC=127
    STATUS_RAW="($script not found)"
    return 0
  fi
  if [[ -x "$script" ]]; then cmd=(./scripts/status.sh); else cmd=(bash ./scripts/status.sh); fi
  if have_cmd timeout; then cmd=(timeout 120 "${cmd[@]}"); fi
  out=$(cd -- "$dir" && "${cmd[@]}" </dev/null 2>&1) || rc=$?
  STATUS_RAW=$out
  STATUS_RC=$rc
}

judge_status() {
  local line clean low
  local re_bad='(^|[^a-z])(offline|stopped|failed|dead|error|not running)([^a-z]|$)'
  local re_good='(^|[^a-z])running([^a-z]|$)'
  STATUS_RUNNING=0
  STATUS_BAD=0
  STATUS_OTHER=0
  STATUS_BAD_LINES=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    clean=$(strip_ansi "$line")
    low=${clean,,}
    if [[ "$low" =~ $re_bad ]]; then
      STATUS_BAD=$((STATUS_BAD + 1))
      STATUS_BAD_LINES+="${STATUS_BAD_LINES:+; }$(one_line "$clean")"
    elif [[ "$low" =~ $re_good ]]; then
      STATUS_RUNNING=$((STATUS_RUNNING + 1))
    elif [[ -n "${clean//[[:space:]]/}" ]]; then
      STATUS_OTHER=$((STATUS_OTHER + 1))
    fi
  done <<<"$STATUS_RAW"
  STATUS_HEALTHY=0
  if ((STATUS_RC != 0)); then
    STATUS_WHY="status.sh exited with $STATUS_RC"
  elif [[ -z "${STATUS_RAW//[[:space:]]/}" ]]; then
    STATUS_WHY="status.sh printed nothing"
  elif ((STATUS_BAD > 0)); then
    STATUS_WHY="$STATUS_BAD line(s) not healthy: $STATUS_BAD_LINES"
  elif ((STATUS_RUNNING == 0)); then
    STATUS_WHY="no line says Running"
  else
    STATUS_HEALTHY=1
    STATUS_WHY="$STATUS_RUNNING line(s) say Running, none Offline/Stopped/Failed/Dead/Error/not running"
  fi
  if ((STATUS_OTHER > 0)); then
    STATUS_WHY+="; $STATUS_OTHER line(s) without a state shown, not judged"
  fi
}

save_status_output() {
  if ((DRY_RUN)); then return 0; fi
  ensure_run_dir
  printf '%s\n' "$STATUS_RAW" >"$RUN_DIR/status-output.txt.tmp"
  mv -f -T -- "$RUN_DIR/status-output.txt.tmp" "$RUN_DIR/status-output.txt"
}

# --- environment facts --------------------------------------------------------------------------

read_boot_id() {
  local id=""
  if [[ -r "$BOOT_ID_FILE" ]]; then
    IFS= read -r id <"$BOOT_ID_FILE" || true
  fi
  printf '%s' "$id"
}

file_sha256() {
  local h
  h=$(sha256sum <"$1")
  printf '%s' "${h%% *}"
}

dir_identity() {
  if [[ -d "$1" ]]; then
    stat -c '%d:%i:%Y' -- "$1" 2>/dev/null || printf 'present'
  else
    printf 'absent'
  fi
}

self_dir() {
  local d
  d=$(cd -- "$(dirname -- "$UM_SELF")" && pwd -P)
  printf '%s' "$d"
}

real_dir() {
  if [[ -d "$1" ]]; then
    (cd -- "$1" && pwd -P)
  else
    printf '%s' "$1"
  fi
}

lower() {
  printf '%s' "${1,,}"
}

is_ip() {
  [[ "$1" =~ ^[0-9]+(\.[0-9]+){3}$ || "$1" == *:* ]]
}

# --- phase ---------------------------------------------------------------------------------------

phase() {
  if [[ -n "$(state_get verify_result)" ]]; then
    if [[ "$(state_get verify_result)" == pass ]]; then printf 'verified'; else printf 'verify-failed'; fi
    return 0
  fi
  if [[ -n "$(state_get bundle_started_at)" ]]; then
    if [[ -z "$(state_get bundle_ended_at)" ]]; then
      if lock_is_held_by_other; then printf 'bundle-running'; else printf 'interrupted'; fi
      return 0
    fi
    if [[ "$(state_get bundle_exit)" != 0 ]]; then
      printf 'bundle-failed'
      return 0
    fi
    if [[ "${M[reboot_required]}" == yes && "$(read_boot_id)" == "$(state_get boot_id_before)" ]]; then
      printf 'awaiting-reboot'
      return 0
    fi
    printf 'awaiting-verify'
    return 0
  fi
  if [[ -n "$(state_get handed_over_at)" ]]; then
    # ISO: the operator runs the vendor's script; the reboot that follows it is what we can see.
    if [[ "$(read_boot_id)" == "$(state_get boot_id_before)" ]]; then
      printf 'handed-over'
    else
      printf 'awaiting-verify'
    fi
    return 0
  fi
  case "$(state_get preflight_result)" in
    '') printf 'new' ;;
    fail) printf 'preflight-failed' ;;
    *) printf 'preflight-passed' ;;
  esac
}

agent_cmd() {
  # The command as the operator types it, from where it will be at that point.
  local path=$1
  shift
  printf 'bash %s %s' "$path" "$*"
}

snapshot_name() {
  local s
  s=$(state_get snapshot)
  [[ -n "$s" ]] || s=${M[snapshot]}
  printf '%s' "${s:-the snapshot or backup taken before the upgrade}"
}

backout_text() {
  printf 'Backout: restore the appliance from the snapshot "%s" (taken before the upgrade, recorded at preflight), then repeat the procedure from the start as the runbook says.' "$(snapshot_name)"
}

upgrade_log_hint() {
  if ((IS_ISO)); then
    printf 'the last messages of upgrade-um.sh on the console, and any upgrade log under %s/var/logs/' "$INSTALL_DIR"
    return 0
  fi
  printf 'the bundle output %s and the upgrade log %s/var/logs/inplaceupgradeum-* (or under %s/var/logs/)' \
    "$RUN_DIR/bundle-output.log" "$INSTALL_DIR" "$BACKUP_DIR"
}

# --- preflight -----------------------------------------------------------------------------------

# free_space_needed_kib SIZE_BYTES: free_space_factor x the bundle (in KiB, rounded up), at least
# free_space_min_mb.
free_space_needed_kib() {
  local size=${1:-0} need need_min
  need_min=$((M[free_space_min_mb] * 1024))
  need=$(((size * M[free_space_factor] + 1023) / 1024))
  if ((need < need_min)); then need=$need_min; fi
  printf '%s' "$need"
}

# free_space_check DIR NEEDED_KIB STATE_KEY: one check line for the filesystem that holds DIR.
free_space_check() {
  local dir=$1 need=$2 key=$3 dfline avail
  local rule="${M[free_space_factor]} x the bundle, at least ${M[free_space_min_mb]} MiB"
  if [[ -d "$dir" ]] && dfline=$(df -Pk -- "$dir" 2>/dev/null | tail -n 1); then
    read -r _ _ _ avail _ <<<"$dfline"
    if [[ "$avail" =~ ^[0-9]+$ ]]; then
      state_set "$key" "$avail" free_needed_kb "$need"
      if ((avail >= need)); then
        check PASS "free space" "$((avail / 1024)) MiB free on the filesystem of $dir, $((need / 1024)) MiB needed ($rule)"
      else
        check FAIL "free space" "$((avail / 1024)) MiB free on the filesystem of $dir, $((need / 1024)) MiB needed ($rule): free space there (old logs, files left from earlier upgrades) and run preflight again"
      fi
    else
      check FAIL "free space" "could not read the free space of $dir from df ($dfline)"
    fi
  else
    check FAIL "free space" "could not read the free space of $dir (df failed or the folder is missing)"
  fi
}

# --- the ISO bundle: the vendor's manifest (SHA-1), certificate and signature ------------------

# The .mf format is not documented beyond "sha1sum -c": read coreutils lines ("<hex>  NAME",
# "<hex> *NAME") and tagged lines ("SHA1(NAME)= <hex>", "SHA1 (NAME) = <hex>", SHA256 too).
MF_SHA1=""
MF_SHA256=""
MF_CONFLICT=""
MF_NAMES=""
parse_vendor_manifest() {
  local mf=$1 name=$2 line algo fname hex
  local re_tag='^[[:space:]]*([A-Za-z]+-?[0-9]+)[[:space:]]*\((.+)\)[[:space:]]*=[[:space:]]*([0-9A-Fa-f]+)[[:space:]]*$'
  local re_gnu='^[[:space:]]*\\?([0-9A-Fa-f]+)[[:space:]]+\*?(.+[^[:space:]])[[:space:]]*$'
  MF_SHA1=""
  MF_SHA256=""
  MF_CONFLICT=""
  MF_NAMES=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    line=${line%$'\r'}
    if [[ "$line" =~ $re_tag ]]; then
      algo=${BASH_REMATCH[1]^^}
      algo=${algo//-/}
      fname=${BASH_REMATCH[2]}
      hex=${BASH_REMATCH[3],,}
    elif [[ "$line" =~ $re_gnu ]]; then
      hex=${BASH_REMATCH[1],,}
      fname=${BASH_REMATCH[2]}
      case "${#hex}" in
        40) algo=SHA1 ;;
        64) algo=SHA256 ;;
        *) continue ;;
      esac
    else
      continue
    fi
    fname=${fname#./}
    MF_NAMES+="${MF_NAMES:+, }$(one_line "$fname")"
    [[ "$fname" == "$name" ]] || continue
    case "$algo:${#hex}" in
      SHA1:40)
        if [[ -n "$MF_SHA1" && "$MF_SHA1" != "$hex" ]]; then MF_CONFLICT="two different SHA-1 values"; fi
        MF_SHA1=$hex
        ;;
      SHA256:64)
        if [[ -n "$MF_SHA256" && "$MF_SHA256" != "$hex" ]]; then MF_CONFLICT="two different SHA-256 values"; fi
        MF_SHA256=$hex
        ;;
    esac
  done <"$mf"
}

ISO_SIZE=""
preflight_iso_files() {
  local k f missing=0 iso=${M[iso_file]} mf=${M[manifest_file]} bh
  ISO_SIZE=""
  for k in iso_file manifest_file certificate_file signature_file; do
    f="$UPLOAD_DIR/${M[$k]}"
    if [[ ! -f "$f" ]]; then
      check FAIL "files" "$f not found: upload ${M[$k]} into $UPLOAD_DIR (binary mode) as the runbook shows"
      missing=1
    elif [[ ! -r "$f" ]]; then
      check FAIL "files" "$f is not readable by root: check its permissions"
      missing=1
    fi
  done
  if ((missing)); then
    state_set iso_sha1_result "not checked" iso_signature_result "not checked"
    return 0
  fi
  ISO_SIZE=$(stat -c %s -- "$BUNDLE_PATH")
  check PASS "files" "$iso ($ISO_SIZE bytes), $mf, ${M[certificate_file]} and ${M[signature_file]} are in $UPLOAD_DIR"

  note "computing the SHA-256 of $BUNDLE_PATH ($ISO_SIZE bytes)..."
  bh=$(file_sha256 "$BUNDLE_PATH")
  state_set bundle_sha256_seen "$bh" bundle_size "$ISO_SIZE"
  if [[ -z "${M[bundle_sha256]}" ]]; then
    check INFO "iso sha256" "$iso has SHA-256 $bh; the inventory gives none to compare (optional for ISO bundles): the vendor's SHA-1 manifest and signature below decide"
  elif [[ "$bh" == "${M[bundle_sha256]}" ]]; then
    check PASS "iso sha256" "$iso has the expected SHA-256 $bh (from the inventory)"
  else
    check_integrity_fail "iso sha256" "$iso has SHA-256 $bh, the inventory expects ${M[bundle_sha256]}: the file is damaged or not the right download. Download it again, compare its SHA-256 with the download page, upload it in binary mode; never upgrade with it"
  fi

  preflight_iso_sha1 "$bh"
  preflight_iso_signature
}

preflight_iso_sha1() {
  local sha256_seen=$1 iso=${M[iso_file]} mf=${M[manifest_file]} out rc=0 status="" line own start
  local mf_path="$UPLOAD_DIR/$mf"
  state_set iso_sha1_expected "" iso_sha1_result fail
  if (($(stat -c %s -- "$mf_path") > 1048576)); then
    check FAIL "iso sha1" "$mf is larger than 1 MiB: it is not the vendor's checksum manifest; download the four files of build ${M[iso_file]} again"
    return 0
  fi
  parse_vendor_manifest "$mf_path" "$iso"
  if [[ -n "$MF_CONFLICT" ]]; then
    check FAIL "iso sha1" "$mf gives $MF_CONFLICT for $iso: it is not a manifest to trust; download it again"
    return 0
  fi
  if [[ -z "$MF_SHA1" ]]; then
    check FAIL "iso sha1" "$mf gives no SHA-1 for $iso (it names: ${MF_NAMES:-nothing it could read}): it is not this ISO's manifest; download the four files of the same build again"
    show_block "$(printable_text "$(head -c 2000 -- "$mf_path")")"
    return 0
  fi
  state_set iso_sha1_expected "$MF_SHA1"
  if ! have_cmd sha1sum; then
    check FAIL "iso sha1" "sha1sum is not found on this appliance (coreutils): the vendor's check cannot run here"
    return 0
  fi
  note "sha1sum -c $mf (as the vendor gives it)..."
  start=$(now_epoch)
  out=$(cd -- "$UPLOAD_DIR" && sha1sum -c -- "$mf" 2>&1) || rc=$?
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "the vendor's SHA-1 check" "cd $(quote_argv "$UPLOAD_DIR") && sha1sum -c $(quote_argv "$mf")" "$rc" "$(($(now_epoch) - start))"
  while IFS= read -r line; do
    if [[ "$line" == "$iso: "* ]]; then status=${line#"$iso: "}; fi
  done <<<"$out"
  if [[ "$status" == OK && "$rc" == 0 ]]; then
    state_set iso_sha1_result pass iso_sha1_how "sha1sum -c"
    check PASS "iso sha1" "sha1sum -c $mf: $iso: OK (SHA-1 $MF_SHA1)"
  elif [[ "$status" == OK ]]; then
    check FAIL "iso sha1" "sha1sum -c $mf says $iso: OK but exits with $rc: another line of the manifest failed (output below); download the four files of the same build again"
  elif [[ -n "$status" ]]; then
    check FAIL "iso sha1" "sha1sum -c $mf: $iso: $status: the ISO is damaged or not the one this manifest describes. Download the ISO and its manifest again, upload them in binary mode; never upgrade with it"
  else
    # sha1sum could not read the format: compare the SHA-1 read from the manifest ourselves.
    note "sha1sum -c cannot read this manifest's format; the agent compares the SHA-1 it read from it..."
    own=$(sha1sum <"$BUNDLE_PATH")
    own=${own%% *}
    if [[ "$own" == "$MF_SHA1" ]]; then
      state_set iso_sha1_result pass iso_sha1_how "read from the manifest by the agent"
      check PASS "iso sha1" "$iso has SHA-1 $own, the one $mf gives (sha1sum -c could not read the manifest's format, exit $rc; the agent read it)"
    else
      check FAIL "iso sha1" "$iso has SHA-1 $own, $mf gives $MF_SHA1: the ISO is damaged or not the one this manifest describes. Download the ISO and its manifest again; never upgrade with it"
    fi
  fi
  show_block "$(printable_text "$out")"
  if [[ -n "$MF_SHA256" ]]; then
    if [[ "$MF_SHA256" == "$sha256_seen" ]]; then
      check PASS "iso sha256 (mf)" "$mf also gives the SHA-256 $MF_SHA256: it matches"
    else
      state_set iso_sha1_result fail
      check FAIL "iso sha256 (mf)" "$mf gives the SHA-256 $MF_SHA256, $iso has $sha256_seen: never upgrade with it"
    fi
  fi
}

preflight_iso_signature() {
  local crt="$UPLOAD_DIR/${M[certificate_file]}" sig="$UPLOAD_DIR/${M[signature_file]}" out rc=0 key start
  local name_crt=${M[certificate_file]} name_key=${M[certificate_file]%.crt}.key
  if ! have_cmd openssl; then
    state_set iso_openssl absent iso_certificate_result "not checked" iso_chain_result "not checked" iso_signature_result "not checked"
    check WARN "signature" "openssl is not on this appliance: the certificate $name_crt and the ISO's signature ${M[signature_file]} were NOT checked here. Check them on a workstation with openssl before going on (commands below); the last one must print Verified OK"
    show_block "openssl x509 -in $name_crt -noout -text
openssl verify $name_crt
openssl x509 -pubkey -noout -in $name_crt > $name_key
openssl dgst -sha1 -verify $name_key -signature ${M[signature_file]} ${M[iso_file]}"
    return 0
  fi
  state_set iso_openssl present iso_certificate_result fail iso_chain_result "not checked" iso_signature_result fail
  out=$(openssl x509 -in "$crt" -noout -subject -issuer -enddate 2>&1) || rc=$?
  if ((rc != 0)); then
    check FAIL "certificate" "$name_crt cannot be read as a certificate (openssl x509, exit $rc): download it again; the signature cannot be checked without it"
    show_block "$(printable_text "$out")"
    return 0
  fi
  state_set iso_certificate_result pass iso_certificate "$(printable_text "$(one_line "$out")")"
  check PASS "certificate" "$name_crt: $(printable_text "$(one_line "$out")")"

  rc=0
  out=$(openssl verify "$crt" 2>&1) || rc=$?
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "the vendor's certificate check" "openssl verify $(quote_argv "$crt")" "$rc" 0
  if ((rc == 0)); then
    state_set iso_chain_result pass
    check PASS "certificate chain" "openssl verify $name_crt: $(printable_text "$(one_line "$out")")"
  else
    state_set iso_chain_result warn
    check WARN "certificate chain" "openssl verify $name_crt did not confirm the issuer chain (exit $rc, output below): an appliance without the issuer's CA certificates says so; check the certificate's issuer on a workstation. The signature check decides"
    show_block "$(printable_text "$out")"
  fi

  key=$(mktemp "${TMPDIR:-/tmp}/um-upgrade-agent-key.XXXXXX")
  rc=0
  openssl x509 -in "$crt" -noout -pubkey >"$key" 2>/dev/null || rc=$?
  if ((rc != 0)); then
    rm -f -- "$key"
    check FAIL "signature" "the public key cannot be read from $name_crt (exit $rc): download the certificate again"
    return 0
  fi
  note "openssl dgst -sha1 -verify (the certificate's public key) -signature ${M[signature_file]} ${M[iso_file]}..."
  start=$(now_epoch)
  rc=0
  out=$(openssl dgst -sha1 -verify "$key" -signature "$sig" "$BUNDLE_PATH" 2>&1) || rc=$?
  rm -f -- "$key"
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "the vendor's signature check" "openssl dgst -sha1 -verify $(quote_argv "$name_key") -signature $(quote_argv "$sig") $(quote_argv "$BUNDLE_PATH")" "$rc" "$(($(now_epoch) - start))"
  out=$(printable_text "$out")
  if ((rc == 0)) && [[ "$out" == *"Verified OK"* ]]; then
    state_set iso_signature_result pass
    check PASS "signature" "openssl dgst -sha1 -verify: Verified OK: ${M[iso_file]} is signed with the key of $name_crt"
  else
    check FAIL "signature" "openssl dgst -sha1 -verify did not say Verified OK (exit $rc: $(one_line "$out")): the ISO is not the one the certificate's owner signed, or the signature belongs to another build. Never upgrade with it: download the four files again"
  fi
}

SNAPSHOT_OK=0
preflight_checks() {
  local names=() n seen="" hostname_seen="" want_host want_short want_app out size need
  local num ph

  ph=$(phase)
  if [[ "$ph" != new && "$ph" != preflight-passed && "$ph" != preflight-failed ]]; then
    note "note: this appliance is past preflight (phase: $ph); the checks describe it as it is now."
  fi

  if ((EUID == 0)); then
    check PASS "root" "running as root"
  else
    check FAIL "root" "running as uid $EUID: log in as root on the console (or sudo -i) and run it again"
  fi

  check PASS "bash" "bash $BASH_VERSION (4.2 or later needed)"
  check PASS "agent" "self-check passed (self_sha256 $UM_SELF_SHA256); whole file sha256 $UM_FILE_SHA256: compare it with the runbook"

  want_host=$(lower "${M[host]}")
  want_app=$(lower "${M[appliance]}")
  want_short=$want_app
  if ! is_ip "$want_host"; then want_short=${want_host%%.*}; fi
  if have_cmd hostname; then
    out=$(hostname 2>/dev/null || true)
    if [[ -n "$out" ]]; then names+=("$out"); fi
    if have_cmd timeout; then
      out=$(timeout 5 hostname -f 2>/dev/null || true)
    else
      out=$(hostname -f 2>/dev/null || true)
    fi
    if [[ -n "$out" ]]; then names+=("$out"); fi
  fi
  out=$(uname -n 2>/dev/null || true)
  if [[ -n "$out" ]]; then names+=("$out"); fi
  local ok=0 nm
  for n in ${names[@]+"${names[@]}"}; do
    nm=$(lower "$(one_line "$n")")
    seen+="${seen:+, }$nm"
    if [[ "$nm" == "$want_host" || "$nm" == "$want_app" || "$nm" == "$want_short" || "${nm%%.*}" == "$want_short" ]]; then
      ok=1
    fi
  done
  hostname_seen=$seen
  if ((ok)); then
    check PASS "host name" "this is ${M[appliance]} (${M[host]}): the system says $seen"
  else
    check FAIL "host name" "this system is '${seen:-unknown}', the agent was made for ${M[appliance]} (${M[host]}): use the agent from this appliance's own folder of the change package"
  fi

  local companions=""
  if ((IS_ISO)); then companions=" and ${M[manifest_file]}, ${M[certificate_file]}, ${M[signature_file]}"; fi
  if [[ "$(self_dir)" == "$(real_dir "$UPLOAD_DIR")" ]]; then
    check PASS "location" "the agent sits in $UPLOAD_DIR"
  else
    check FAIL "location" "the agent runs from $(self_dir), not $UPLOAD_DIR: copy it there, next to ${M[bundle_file]}$companions, cd $UPLOAD_DIR and run it from there"
  fi

  size=""
  if ((IS_ISO)); then
    preflight_iso_files
    size=$ISO_SIZE
  elif [[ ! -f "$BUNDLE_PATH" ]]; then
    check FAIL "bundle" "$BUNDLE_PATH not found: upload ${M[bundle_file]} into $UPLOAD_DIR (binary mode) as the runbook shows"
  elif [[ ! -r "$BUNDLE_PATH" ]]; then
    check FAIL "bundle" "$BUNDLE_PATH is not readable by root: check its permissions"
  else
    size=$(stat -c %s -- "$BUNDLE_PATH")
    note "computing the SHA-256 of $BUNDLE_PATH ($size bytes)..."
    local bh
    bh=$(file_sha256 "$BUNDLE_PATH")
    state_set bundle_sha256_seen "$bh" bundle_size "$size"
    if [[ "$bh" == "${M[bundle_sha256]}" ]]; then
      check PASS "bundle sha256" "${M[bundle_file]} ($size bytes) has the expected SHA-256 $bh"
    else
      check_integrity_fail "bundle sha256" "${M[bundle_file]} has SHA-256 $bh, the manifest expects ${M[bundle_sha256]}: the file is damaged or not the right download. Download it again from the vendor portal, compare its SHA-256 with the download page, upload it in binary mode; the bundle is never run like this"
    fi
  fi

  if read_installed_version "$INSTALL_DIR"; then
    num=$(version_numeric "$VERSION_FOUND")
    state_set version_before "$VERSION_FOUND" version_before_source "$VERSION_SOURCE" version_before_visible yes
    if ! version_supported "$num"; then
      if [[ "$(version_cmp "$num" "$(version_numeric "${M[target]}" || printf 0)")" == 0 ]]; then
        check FAIL "version" "installed $VERSION_FOUND (from $VERSION_SOURCE) is already the target ${M[target]}: there is nothing to upgrade; check the inventory"
      else
        check FAIL "version" "installed $VERSION_FOUND (from $VERSION_SOURCE) is not a supported source for ${M[target]} (supported: ${M[supported_sources]}): this in-place upgrade does not apply; see the runbook's path"
      fi
    elif [[ "$(version_cmp "$num" "$(version_numeric "${M[inventory_version]}" || printf x)")" != 0 ]]; then
      check FAIL "version" "installed $VERSION_FOUND (from $VERSION_SOURCE), the inventory says ${M[inventory_version]}: correct the inventory and render the package again"
    else
      check PASS "version" "installed $VERSION_FOUND (from $VERSION_SOURCE) matches the inventory (${M[inventory_version]}) and is a supported source for ${M[target]} (${M[supported_sources]})"
    fi
  else
    state_set version_before "" version_before_source "" version_before_visible no
    check WARN "version" "the appliance does not show its version here (${VERSION_DETAIL}): confirm in the web interface (About) that it is ${M[inventory_version]}; upgrade will ask for it (with --yes it goes on and records this WARN)"
  fi

  need=$(free_space_needed_kib "$size")
  free_space_check "$INSTALL_DIR" "$need" free_kb
  if [[ "$UPLOAD_DIR" != "$INSTALL_DIR" ]]; then
    if [[ -d "$UPLOAD_DIR" && -d "$INSTALL_DIR" ]] && [[ "$(stat -c %d -- "$UPLOAD_DIR" 2>/dev/null)" == "$(stat -c %d -- "$INSTALL_DIR" 2>/dev/null || printf x)" ]]; then
      state_set free_upload_kb "$(state_get free_kb)"
      note "($UPLOAD_DIR is on the same filesystem as $INSTALL_DIR: the free space above covers both)"
    else
      free_space_check "$UPLOAD_DIR" "$need" free_upload_kb
    fi
  fi

  if ((DRY_RUN)); then
    say "DRY-RUN: would run: cd $INSTALL_DIR && ./scripts/status.sh (services must say Running)"
  else
    run_status_script "$INSTALL_DIR"
    judge_status
    save_status_output
    if ((STATUS_HEALTHY)); then
      check PASS "services" "$STATUS_WHY"
    else
      check FAIL "services" "not healthy before the upgrade ($STATUS_WHY): bring the services up (or find out why) before upgrading"
    fi
    show_block "$STATUS_RAW"
  fi

  if [[ -d "$BACKUP_DIR" ]] && ((IS_ISO)); then
    state_set backup_before "$(dir_identity "$BACKUP_DIR")"
    check INFO "old backup" "$BACKUP_DIR exists (an earlier upgrade's backup, $(stat -c %y -- "$BACKUP_DIR" 2>/dev/null | cut -c1-19)); the ISO procedure is not known to use it; the agent never touches it"
  elif [[ -d "$BACKUP_DIR" ]]; then
    state_set backup_before "$(dir_identity "$BACKUP_DIR")"
    check WARN "old backup" "$BACKUP_DIR exists already (an earlier upgrade's backup, $(stat -c %y -- "$BACKUP_DIR" 2>/dev/null | cut -c1-19)): the agent never deletes or modifies it; decide with the change owner whether it is still needed before the upgrade makes a new one"
  else
    state_set backup_before absent
    check PASS "old backup" "$BACKUP_DIR does not exist yet"
  fi

  preflight_snapshot
  state_set hostname_seen "$hostname_seen"
}

preflight_snapshot() {
  local answer=""
  SNAPSHOT_OK=0
  if ((OPT_SNAPSHOT_SET)) && [[ -n "$OPT_SNAPSHOT" ]]; then
    state_set snapshot "$OPT_SNAPSHOT" snapshot_confirmed_by "--snapshot"
    SNAPSHOT_OK=1
    check PASS "snapshot" "confirmed with --snapshot: \"$OPT_SNAPSHOT\" (recorded; it is the backout)"
  elif [[ -n "$(state_get snapshot)" && "$(state_get snapshot_confirmed_by)" != "--yes"* ]]; then
    SNAPSHOT_OK=1
    check PASS "snapshot" "confirmed earlier ($(state_get snapshot_confirmed_by), preflight at $(state_get preflight_at)): \"$(state_get snapshot)\""
  elif ((ASSUME_YES)); then
    if [[ -n "${M[snapshot]}" ]]; then
      state_set snapshot "${M[snapshot]}" snapshot_confirmed_by "--yes"
      SNAPSHOT_OK=1
      check PASS "snapshot" "taken as confirmed with --yes: \"${M[snapshot]}\" (from the manifest; recorded)"
    else
      state_set snapshot "" snapshot_confirmed_by "--yes (no name)"
      SNAPSHOT_OK=1
      check WARN "snapshot" "no snapshot named (--yes given): the backout needs one; name it next time with --snapshot NAME"
    fi
  elif ((DRY_RUN)); then
    say "DRY-RUN: would ask for the snapshot's name (or take --snapshot NAME)"
  elif [[ -t 0 ]]; then
    say "A snapshot (or backup) of this appliance must exist before the upgrade: it is the backout."
    if [[ -n "${M[snapshot]}" ]]; then
      read -r -p "Type the snapshot's name (Enter = \"${M[snapshot]}\"), or 'no' if there is none: " answer || answer="no"
      [[ -n "$answer" ]] || answer=${M[snapshot]}
    else
      read -r -p "Type the snapshot's name, or 'no' if there is none: " answer || answer="no"
    fi
    answer=$(one_line "$answer")
    if [[ -z "$answer" || "$(lower "$answer")" == no ]]; then
      state_set snapshot "" snapshot_confirmed_by "operator: none"
      check FAIL "snapshot" "no snapshot: take one (vCenter) before the upgrade, then run again with --snapshot NAME"
    else
      state_set snapshot "$answer" snapshot_confirmed_by "operator (typed)"
      SNAPSHOT_OK=1
      check PASS "snapshot" "confirmed by the operator: \"$answer\" (recorded; it is the backout)"
    fi
  else
    check WARN "snapshot" "not confirmed (no terminal to ask on): give --snapshot NAME${M[snapshot]:+ (the runbook names \"${M[snapshot]}\")}"
  fi
}

preflight_summary() {
  local result=pass
  if ((CHECK_WARNS > 0)); then result=warn; fi
  if ((CHECK_FAILS > 0)); then result=fail; fi
  state_set preflight_at "$(now_iso)" preflight_result "$result" preflight_fails "$CHECK_FAILS" preflight_warns "$CHECK_WARNS"
  printf '\n'
  if ((CHECK_FAILS > 0)); then
    say "PREFLIGHT FAILED: $CHECK_FAILS check(s) failed, $CHECK_WARNS warning(s). Nothing was changed. Fix what the FAIL lines say, then run preflight again."
  elif ((CHECK_WARNS > 0)); then
    say "PREFLIGHT PASSED with $CHECK_WARNS warning(s): read the WARN lines. Nothing was changed."
  else
    say "PREFLIGHT PASSED. Nothing was changed."
  fi
}

preflight_exit_code() {
  if ((CHECK_INTEGRITY > 0)); then
    printf 4
  elif ((CHECK_FAILS > 0)); then
    printf 1
  else
    printf 0
  fi
}

cmd_preflight() {
  acquire_lock
  state_load
  say "== preflight: ${M[appliance]} (${M[host]}) ${M[inventory_version]} -> ${M[target]}, change ${M[ticket]}${DRY_RUN:+}"
  if ((DRY_RUN)); then say "DRY-RUN: checks that only read are done; nothing is written, nothing is run."; fi
  preflight_checks
  preflight_summary
  local rc
  rc=$(preflight_exit_code)
  if ((rc == 0)); then
    say "Next: $(agent_cmd "$UPLOAD_DIR/$UM_NAME" upgrade)"
  fi
  exit "$rc"
}

# --- upgrade -------------------------------------------------------------------------------------

refuse_wrong_phase_for_upgrade() {
  local ph=$1
  case "$ph" in
    new | preflight-passed | preflight-failed) return 0 ;;
    bundle-running)
      die 3 "WRONG PHASE: the bundle is running now (another run of this agent, started $(state_get bundle_started_at))." \
        "Wait for it; then: bash $AGENT_COPY status"
      ;;
    interrupted)
      die 3 "WRONG PHASE: INTERRUPTED: an earlier upgrade started the bundle at $(state_get bundle_started_at) and never recorded its end (power cut, lost session or a kill)." \
        "The bundle is never run twice. Read $(upgrade_log_hint) to see how far it got." \
        "$(backout_text)"
      ;;
    bundle-failed)
      die 3 "WRONG PHASE: the bundle already ran ($(state_get bundle_started_at)) and failed with exit $(state_get bundle_exit); it is never run twice." \
        "Read $(upgrade_log_hint). $(backout_text)"
      ;;
    awaiting-reboot)
      die 3 "WRONG PHASE: the bundle already ran ($(state_get bundle_started_at), exit 0); it is never run twice." \
        "Next: reboot the appliance (reboot), then: $(agent_cmd "$AGENT_COPY" verify)"
      ;;
    handed-over)
      die 3 "WRONG PHASE: the upgrade was already started at $(state_get handed_over_at) (boot id recorded); it is recorded once." \
        "Next: $(next_command "$ph")"
      ;;
    *)
      if ((IS_ISO)); then
        die 3 "WRONG PHASE: the upgrade was started at $(state_get handed_over_at) and the appliance has rebooted since (phase: $ph)." \
          "Next: $(next_command "$ph")"
      fi
      die 3 "WRONG PHASE: the bundle already ran ($(state_get bundle_started_at), exit $(state_get bundle_exit)); it is never run twice (phase: $ph)." \
        "Next: $(next_command "$ph")"
      ;;
  esac
}

confirm_version_if_hidden() {
  local answer num
  [[ "$(state_get version_before_visible)" == no ]] || return 0
  if ((ASSUME_YES)); then
    state_set version_confirmed_by "--yes (not seen)"
    check WARN "version" "not visible on the appliance; going on because of --yes: the operator vouches that the web interface shows ${M[inventory_version]} (recorded in the evidence)"
    return 0
  fi
  if ((DRY_RUN)); then
    say "DRY-RUN: would ask for the version shown in the web interface (About page)"
    return 0
  fi
  say "The installed version cannot be read on this appliance. Open the web interface, About page."
  read -r -p "Type the version it shows (the inventory says ${M[inventory_version]}): " answer || answer=""
  answer=$(one_line "$answer")
  if ! num=$(version_numeric "$answer"); then
    check FAIL "version" "'$answer' is not a version: nothing was changed; run upgrade again and type the version as shown (e.g. ${M[inventory_version]})"
    return 0
  fi
  if ! version_supported "$num"; then
    check FAIL "version" "$answer (typed) is not a supported source for ${M[target]} (supported: ${M[supported_sources]}): nothing was changed"
    return 0
  fi
  if [[ "$(version_cmp "$num" "$(version_numeric "${M[inventory_version]}" || printf x)")" != 0 ]]; then
    check FAIL "version" "$answer (typed) differs from the inventory (${M[inventory_version]}): correct the inventory, render again; nothing was changed"
    return 0
  fi
  state_set version_before "$answer" version_before_source "operator (web interface)" version_confirmed_by "operator (typed)"
  check PASS "version" "$answer as shown in the web interface (typed by the operator) matches the inventory"
}

confirm_upgrade() {
  local answer
  if ((ASSUME_YES)); then
    state_set upgrade_confirmed_by "--yes"
    say "Confirmation: given with --yes."
    return 0
  fi
  if ((DRY_RUN)); then
    say "DRY-RUN: would ask the operator to type the host name '${M[appliance]}' to confirm"
    return 0
  fi
  say ""
  if ((IS_ISO)); then
    say "This records the start of the in-place upgrade of ${M[appliance]} to ${M[target]}; you then run the vendor's upgrade-um.sh yourself."
  else
    say "This runs 'bash ${M[bundle_file]}' in $INSTALL_DIR: the in-place upgrade of ${M[appliance]} to ${M[target]}."
  fi
  read -r -p "Type the host name '${M[appliance]}' to go on (anything else stops): " answer || answer=""
  if [[ "$(lower "$(one_line "$answer")")" != "$(lower "${M[appliance]}")" ]]; then
    die 1 "STOPPED: the confirmation did not match ('$(one_line "$answer")' is not '${M[appliance]}'). Nothing was changed." \
      "Run upgrade again when ready."
  fi
  state_set upgrade_confirmed_by "operator (typed the host name)"
}

copy_self() {
  local tmp h dest
  if ((DRY_RUN)); then
    say "DRY-RUN: would copy this agent to $AGENT_COPY and $AGENT_COPY_TARGET (the commands after the reboot run from there)"
    return 0
  fi
  mkdir -p -- "$STATE_DIR"
  # The shared name is the one the runbook gives; the per-target copy keeps this hop's agent when
  # the next hop's agent takes the shared name.
  for dest in "$AGENT_COPY" "$AGENT_COPY_TARGET"; do
    if [[ "$(real_dir "$(self_dir)")/$(basename -- "$UM_SELF")" == "$(real_dir "$STATE_DIR")/$(basename -- "$dest")" ]]; then
      continue
    fi
    tmp="$dest.tmp.$$"
    cp -- "$UM_SELF" "$tmp"
    chmod 700 -- "$tmp"
    sync
    h=$(file_sha256 "$tmp")
    if [[ "$h" != "$UM_FILE_SHA256" ]]; then
      rm -f -- "$tmp"
      die 1 "FAIL: the copy of the agent in $STATE_DIR does not match the original (sha256 $h): check the disk ($STATE_DIR). Nothing was run."
    fi
    mv -f -T -- "$tmp" "$dest"
    sync
    say "Copied this agent to $dest (sha256 $h)."
  done
}

on_bundle_signal() {
  trap - INT TERM HUP
  printf '\n%s: STOPPED by a signal while the bundle was running: the upgrade is INTERRUPTED.\n' "$UM_PROG" >&2
  state_set bundle_interrupted_at "$(now_iso)" || true
  printf '%s\n' "Read $(upgrade_log_hint)." "$(backout_text)" >&2
  exit 130
}

BUNDLE_RC=0
run_bundle() {
  local log="$RUN_DIR/bundle-output.log" start end rc=0
  local -a st=()
  local -a cmd=(bash "./${M[bundle_file]}")
  if ((DRY_RUN)); then
    say "DRY-RUN: would record the boot id ($(read_boot_id)) and the start time in $STATE_FILE"
    say "DRY-RUN: would run in $INSTALL_DIR: bash ${M[bundle_file]}  (output shown and logged to $log)"
    return 0
  fi
  state_set boot_id_before "$(read_boot_id)" backup_before_upgrade "$(dir_identity "$BACKUP_DIR")" \
    bundle_started_at "$(now_iso)" bundle_started_epoch "$(now_epoch)" bundle_log "$log" \
    bundle_command "cd $INSTALL_DIR && bash ${M[bundle_file]}"
  say ""
  say "== running the bundle: cd $INSTALL_DIR && bash ${M[bundle_file]}   (logged to $log)"
  say "   Do not close this session or reboot until it ends."
  trap on_bundle_signal INT TERM HUP
  start=$(now_epoch)
  # The bundle's exit code is recorded, not an error of the agent: no ERR trap, no errexit.
  trap - ERR
  set +e
  (cd -- "$INSTALL_DIR" && "${cmd[@]}") 2>&1 | tee -a -- "$log"
  st=("${PIPESTATUS[@]}")
  set -e
  install_err_trap
  rc=${st[0]}
  end=$(now_epoch)
  trap - INT TERM HUP
  state_set bundle_ended_at "$(now_iso)" bundle_exit "$rc" bundle_duration_s "$((end - start))"
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "run the bundle" "cd $(quote_argv "$INSTALL_DIR") && $(quote_argv "${cmd[@]}")" "$rc" "$((end - start))"
  say "== the bundle ended with exit code $rc after $((end - start)) s."
  BUNDLE_RC=$rc
}

iso_commands_inline() {
  local joined
  joined=$(printf '%s; ' "${ISO_VENDOR_COMMANDS[@]}")
  printf '%s' "${joined%; }"
}

iso_commands_block() {
  local c
  for c in "${ISO_VENDOR_COMMANDS[@]}"; do
    printf '    %s\n' "$c"
  done
}

# ISO: the vendor's script asks questions on the console, so the operator runs it; the agent
# records the boot id (verify refuses until the reboot) and says what to type.
hand_over() {
  local joined
  joined=$(iso_commands_inline)
  if ((DRY_RUN)); then
    say "DRY-RUN: would record the boot id ($(read_boot_id)) and the start time in $STATE_FILE"
    say "DRY-RUN: would then print the vendor's commands for you to run on the console:"
    iso_commands_block
    say "DRY-RUN: nothing was changed."
    return 0
  fi
  state_set boot_id_before "$(read_boot_id)" backup_before_upgrade "$(dir_identity "$BACKUP_DIR")" \
    handed_over_at "$(now_iso)" bundle_started_epoch "$(now_epoch)" bundle_command "$joined" \
    upgrade_logs_before "$(upgrade_logs_now)"
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "handed over to the operator: the vendor's upgrade-um.sh" "$joined" "" ""
  if ((OPT_REBOOT)); then say "(--reboot ignored: the vendor's script offers the restart at its end.)"; fi
  say ""
  say "READY: the start of the upgrade to ${M[target]} is recorded (boot id $(state_get boot_id_before))."
  say "The vendor's script asks questions, so run it yourself, on the console as root, as the runbook"
  say "says (attach ${M[iso_file]} to the VM's CD/DVD drive first):"
  iso_commands_block
  say "Answer its questions (a snapshot was taken: y) and let it restart the appliance at the end"
  say "(or reboot it yourself). After the reboot, log in as root and run:"
  say "    $(agent_cmd "$AGENT_COPY" verify --keep-ssh)"
  say "    $(agent_cmd "$AGENT_COPY" report)"
}

cmd_upgrade() {
  local ph rc=0
  if ((!DRY_RUN && !ASSUME_YES)) && [[ ! -t 0 ]]; then
    die 2 "REFUSED: upgrade asks for a typed confirmation and there is no terminal to ask on. Nothing was changed." \
      "Run it on the console or an SSH session, or add --yes (and --snapshot NAME) to confirm in advance."
  fi
  acquire_lock
  state_load
  ph=$(phase)
  refuse_wrong_phase_for_upgrade "$ph"
  say "== upgrade: ${M[appliance]} (${M[host]}) ${M[inventory_version]} -> ${M[target]}, change ${M[ticket]}"
  if ((DRY_RUN)); then say "DRY-RUN: nothing is written, nothing is run; these are the actions it would take."; fi
  say "-- preflight"
  preflight_checks
  confirm_version_if_hidden
  if ((!SNAPSHOT_OK && !DRY_RUN && CHECK_FAILS == 0)); then
    check FAIL "snapshot" "not confirmed: run upgrade again with --snapshot NAME once the snapshot exists"
  fi
  preflight_summary
  rc=$(preflight_exit_code)
  if ((rc != 0)); then
    die "$rc" "STOPPED before the bundle: preflight failed (see the FAIL lines above). Nothing was changed, the bundle was not run."
  fi
  confirm_upgrade
  copy_self
  ensure_run_dir
  if ((IS_ISO)); then
    hand_over
    return 0
  fi
  run_bundle
  rc=$BUNDLE_RC
  if ((DRY_RUN)); then
    if [[ "${M[reboot_required]}" == yes ]]; then
      say "DRY-RUN: would then say: reboot the appliance, then run: $(agent_cmd "$AGENT_COPY" verify)"
      if ((OPT_REBOOT)); then say "DRY-RUN: would run: reboot"; fi
    else
      say "DRY-RUN: would then say: run: $(agent_cmd "$AGENT_COPY" verify)"
    fi
    say "DRY-RUN: nothing was changed."
    return 0
  fi
  if ((rc != 0)); then
    die 1 "FAIL: the bundle failed (exit $rc). Do not reboot before reading the logs: $(upgrade_log_hint)." \
      "$(backout_text)" \
      "Record it with: $(agent_cmd "$AGENT_COPY" report)"
  fi
  say ""
  if [[ "${M[reboot_required]}" == yes ]]; then
    say "The bundle succeeded. Next: REBOOT the appliance to complete the upgrade (the ${M[target]} procedure requires it):"
    say "    reboot"
    say "After the reboot, log in as root and run (the agent's copy, since $INSTALL_DIR is replaced):"
    say "    $(agent_cmd "$AGENT_COPY" verify)"
    if ((OPT_REBOOT)); then
      run "reboot as asked with --reboot" reboot || die 1 "FAIL: reboot failed (exit $LAST_RC): reboot the appliance by hand, then run: $(agent_cmd "$AGENT_COPY" verify)"
      say "Rebooting now."
    fi
  else
    say "The bundle succeeded. This procedure has no reboot step. Next, verify now:"
    say "    $(agent_cmd "$AGENT_COPY" verify)"
    if ((OPT_REBOOT)); then say "(--reboot ignored: the ${M[target]} procedure does not reboot.)"; fi
  fi
  return 0
}

# --- verify --------------------------------------------------------------------------------------

# The upgrade logs there are now, as "path:mtime|path:mtime".
upgrade_logs_now() {
  local d f out=""
  for d in "$INSTALL_DIR/var/logs" "$BACKUP_DIR/var/logs"; do
    [[ -d "$d" ]] || continue
    for f in "$d"/inplaceupgradeum-*; do
      if [[ -f "$f" ]]; then out+="${out:+|}$f:$(stat -c %Y -- "$f" 2>/dev/null || printf 0)"; fi
    done
  done
  printf '%s' "$out"
}

UPGRADE_LOGS=()
find_upgrade_logs() {
  local since=$1 f d m
  local -a all=()
  UPGRADE_LOGS=()
  for d in "$INSTALL_DIR/var/logs" "$BACKUP_DIR/var/logs"; do
    [[ -d "$d" ]] || continue
    for f in "$d"/inplaceupgradeum-*; do
      if [[ -f "$f" ]]; then all+=("$f"); fi
    done
  done
  local before
  before="|$(state_get upgrade_logs_before)|"
  for f in ${all[@]+"${all[@]}"}; do
    m=$(stat -c %Y -- "$f" 2>/dev/null || printf 0)
    # ISO: a log that was there, unchanged, when the upgrade started is an earlier hop's.
    if ((IS_ISO)) && [[ "$before" == *"|$f:$m|"* ]]; then
      continue
    fi
    if [[ -z "$since" ]] || ((m >= since - 120)); then
      UPGRADE_LOGS+=("$f")
    fi
  done
  if ((${#UPGRADE_LOGS[@]} == 0 && !IS_ISO)); then
    UPGRADE_LOGS=(${all[@]+"${all[@]}"})
  fi
}

log_error_lines() {
  local f=$1 line count=0 out=""
  local re='(error|fail|fatal|exception)'
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "${line,,}" =~ $re ]]; then
      count=$((count + 1))
      if ((count <= 20)); then
        out+="$(printable_text "$(one_line "$line")")"$'\n'
      fi
    fi
  done <"$f"
  LOG_ERROR_COUNT=$count
  LOG_ERROR_TEXT=$out
}

cmd_verify() {
  local ph timeout interval start deadline now polls=0 last_raw="" bid v num target_num
  local old_id new_id
  acquire_lock
  state_load
  ph=$(phase)
  case "$ph" in
    new | preflight-passed | preflight-failed)
      die 3 "WRONG PHASE: the upgrade has not run yet (phase: $ph): there is nothing to verify." \
        "Next: $(next_command "$ph")"
      ;;
    bundle-running | interrupted | bundle-failed)
      if [[ "$ph" == interrupted ]]; then note "INTERRUPTED: the bundle started at $(state_get bundle_started_at) and never recorded its end." >&2; fi
      die 3 "WRONG PHASE: the upgrade did not complete (phase: $ph), so it is not verified." \
        "Read $(upgrade_log_hint). $(backout_text)"
      ;;
    awaiting-reboot)
      die 3 "WRONG PHASE: NOT REBOOTED YET: the boot id ($(read_boot_id)) is the one recorded when the bundle ran; the ${M[target]} upgrade completes only at the reboot." \
        "Reboot the appliance (reboot), log in as root, then run: $(agent_cmd "$AGENT_COPY" verify)"
      ;;
    handed-over)
      die 3 "WRONG PHASE: NOT REBOOTED YET: the boot id ($(read_boot_id)) is the one recorded at upgrade ($(state_get handed_over_at)); the ${M[target]} upgrade completes only at the reboot after the vendor's script." \
        "Next: $(next_command "$ph")"
      ;;
  esac
  timeout=${OPT_TIMEOUT:-${M[status_timeout]}}
  interval=$OPT_POLL_INTERVAL
  CHECK_FAILS=0
  CHECK_WARNS=0
  say "== verify: ${M[appliance]} (${M[host]}) upgrade to ${M[target]}, change ${M[ticket]}"
  if ((DRY_RUN)); then say "DRY-RUN: checks that only read are done; nothing is written, status.sh and sshd are not touched."; fi

  bid=$(read_boot_id)
  if [[ "${M[reboot_required]}" == yes ]]; then
    state_set boot_id_after "$bid" rebooted yes
    check PASS "reboot" "the boot id changed since the $(if ((IS_ISO)); then printf 'upgrade was started'; else printf 'bundle ran'; fi) ($(state_get boot_id_before) -> $bid)"
  else
    state_set boot_id_after "$bid" rebooted "not required"
    check PASS "reboot" "not part of the ${M[target]} procedure"
  fi

  if ((IS_ISO)); then
    if [[ -d "$BACKUP_DIR" ]]; then
      check INFO "backup folder" "$BACKUP_DIR exists; the ISO procedure does not need it (an earlier upgrade's backup, or one the vendor's script made)"
    else
      check INFO "backup folder" "$BACKUP_DIR does not exist; the ISO procedure does not need it"
    fi
  elif [[ -d "$BACKUP_DIR" ]]; then
    old_id=$(state_get backup_before_upgrade)
    new_id=$(dir_identity "$BACKUP_DIR")
    if [[ -n "$old_id" && "$old_id" != absent && "$old_id" == "$new_id" ]]; then
      check WARN "backup folder" "$BACKUP_DIR is the one that existed before the upgrade, unchanged: the upgrade did not make a new backup there; read the upgrade log"
    else
      check PASS "backup folder" "$BACKUP_DIR exists (the previous installation)"
    fi
  else
    check FAIL "backup folder" "$BACKUP_DIR does not exist: the upgrade did not complete its folder swap"
  fi
  if [[ -d "$INSTALL_DIR" ]]; then
    check PASS "install folder" "$INSTALL_DIR exists (the upgraded installation)"
  else
    check FAIL "install folder" "$INSTALL_DIR does not exist: the upgrade did not complete"
  fi

  target_num=$(version_numeric "${M[target]}" || printf 0)
  if read_installed_version "$INSTALL_DIR"; then
    num=$(version_numeric "$VERSION_FOUND")
    state_set version_after "$VERSION_FOUND" version_after_source "$VERSION_SOURCE" version_after_visible yes
    if [[ "$(version_cmp "$num" "$target_num")" == 0 ]]; then
      check PASS "version" "now $VERSION_FOUND (from $VERSION_SOURCE), the target ${M[target]} (before: $(state_get version_before))"
    else
      check FAIL "version" "now $VERSION_FOUND (from $VERSION_SOURCE), not the target ${M[target]}: the upgrade did not take effect"
    fi
  else
    state_set version_after "" version_after_source "" version_after_visible no
    check WARN "version" "not visible on the appliance (${VERSION_DETAIL}): confirm in the web interface (About) that it shows ${M[target]}"
  fi

  find_upgrade_logs "$(state_get bundle_started_epoch)"
  local f logs_list="" errs_total=0
  LOG_ERROR_COUNT=0
  LOG_ERROR_TEXT=""
  if ((${#UPGRADE_LOGS[@]} == 0 && IS_ISO)); then
    check INFO "upgrade log" "no inplaceupgradeum-* log newer than the upgrade's start under $INSTALL_DIR/var/logs or $BACKUP_DIR/var/logs: where the ISO's upgrade-um.sh logs is not documented; keep its last console messages with the ticket"
  elif ((${#UPGRADE_LOGS[@]} == 0)); then
    check WARN "upgrade log" "no inplaceupgradeum-* log under $INSTALL_DIR/var/logs or $BACKUP_DIR/var/logs: keep the bundle output $RUN_DIR/bundle-output.log instead"
  else
    local all_errs=""
    for f in "${UPGRADE_LOGS[@]}"; do
      log_error_lines "$f"
      logs_list+="${logs_list:+ }$f"
      errs_total=$((errs_total + LOG_ERROR_COUNT))
      all_errs+=$LOG_ERROR_TEXT
    done
    state_set upgrade_logs "$logs_list" upgrade_log_error_count "$errs_total"
    if ((!DRY_RUN)); then
      printf '%s' "$all_errs" >"$RUN_DIR/upgrade-log-errors.txt"
    fi
    if ((errs_total > 0)); then
      check WARN "upgrade log" "$logs_list: $errs_total line(s) mention an error or failure (first ones below): read them"
      show_block "${all_errs%$'\n'}"
    else
      check PASS "upgrade log" "$logs_list: no error lines"
    fi
  fi

  if ((DRY_RUN)); then
    say "DRY-RUN: would run: cd $INSTALL_DIR && ./scripts/status.sh every $interval s until all services say Running, at most $timeout s"
    say "DRY-RUN: then would write the evidence ($EVIDENCE_BASE.json, .md)"
    ((OPT_KEEP_SSH)) || say "DRY-RUN: then would run: $(ssh_stop_argv_text)"
    say "DRY-RUN: nothing was changed."
    return 0
  fi

  say "-- services: polling ./scripts/status.sh every $interval s, at most $timeout s"
  start=$(now_epoch)
  deadline=$((start + timeout))
  while :; do
    run_status_script "$INSTALL_DIR"
    judge_status
    polls=$((polls + 1))
    now=$(now_epoch)
    if [[ "$STATUS_RAW" != "$last_raw" ]]; then
      show_block "$STATUS_RAW"
      last_raw=$STATUS_RAW
    fi
    say "   poll $polls after $((now - start)) s: $STATUS_RUNNING Running, $STATUS_BAD not healthy, exit $STATUS_RC -> $([[ $STATUS_HEALTHY == 1 ]] && printf healthy || printf 'not yet healthy')"
    if ((STATUS_HEALTHY)); then break; fi
    if ((now >= deadline)); then break; fi
    local wait=$interval
    if ((now + wait > deadline)); then wait=$((deadline - now)); fi
    if ((wait < 1)); then wait=1; fi
    sleep "$wait"
  done
  save_status_output
  state_set services_polls "$polls" services_wait_s "$(($(now_epoch) - start))" services_verdict "$([[ $STATUS_HEALTHY == 1 ]] && printf healthy || printf 'not healthy')" services_why "$STATUS_WHY"
  if ((STATUS_HEALTHY)); then
    check PASS "services" "$STATUS_WHY (after $polls poll(s), $(($(now_epoch) - start)) s)"
  else
    check FAIL "services" "still not healthy after $timeout s ($STATUS_WHY): this is the failure the vendor describes (Offline)"
  fi

  if ((CHECK_FAILS > 0)); then
    state_set verify_at "$(now_iso)" verify_result fail
    write_evidence quiet
    printf '\n'
    die 1 "VERIFY FAILED: $CHECK_FAILS check(s) failed (see the FAIL lines above). Read $(upgrade_log_hint)." \
      "$(backout_text)" \
      "If the services only need longer, run again: $(agent_cmd "$AGENT_COPY" verify --timeout $((timeout * 2)))" \
      "Evidence written: $EVIDENCE_BASE.json and .md"
  fi
  state_set verify_at "$(now_iso)" verify_result pass
  write_evidence quiet
  say ""
  say "VERIFY PASSED ($CHECK_WARNS warning(s)). Evidence: $EVIDENCE_BASE.json and $EVIDENCE_BASE.md"
  if ((OPT_KEEP_SSH)); then
    state_set ssh_stopped "no (--keep-ssh)"
    say "sshd left running (--keep-ssh): stop it when done: $(ssh_stop_argv_text)"
  else
    local -a sshcmd=()
    ssh_stop_argv
    sshcmd=("${SSH_STOP_ARGV[@]}")
    if run "stop sshd as the vendor procedure asks" "${sshcmd[@]}"; then
      state_set ssh_stopped yes
      say "sshd stopped, as the vendor procedure asks (an open SSH session may stay until you log out)."
    else
      state_set ssh_stopped "failed (exit $LAST_RC)"
      say "WARN: '$(ssh_stop_argv_text)' failed with exit $LAST_RC: stop sshd by hand on the console."
    fi
  fi
  write_evidence quiet
  say ""
  say "NEXT, in the Usage Meter web interface: accept again the certificates of ALL metered product servers:"
  local -a servers=()
  read -r -a servers <<<"${M[metered_servers]}"
  if ((${#servers[@]} == 0)); then
    say "    (the inventory names none: check every product server listed in the web interface)"
  else
    local s
    for s in "${servers[@]}"; do
      printf '    - %s\n' "$s"
    done
  fi
  say "Then attach $EVIDENCE_BASE.json and .md to change ${M[ticket]}."
  return 0
}

SSH_STOP_ARGV=()
ssh_stop_argv() {
  if [[ "${M[ssh_service_manager]}" == systemctl ]]; then
    SSH_STOP_ARGV=(systemctl stop sshd)
  else
    SSH_STOP_ARGV=(service sshd stop)
  fi
}

ssh_stop_argv_text() {
  ssh_stop_argv
  printf '%s' "${SSH_STOP_ARGV[*]}"
}

# --- status --------------------------------------------------------------------------------------

next_command() {
  local ph=$1
  case "$ph" in
    new | preflight-failed) printf '%s' "cd $UPLOAD_DIR && $(agent_cmd "./$UM_NAME" preflight)" ;;
    preflight-passed) printf '%s' "cd $UPLOAD_DIR && $(agent_cmd "./$UM_NAME" upgrade)" ;;
    bundle-running) printf '%s' "wait for the running upgrade, then: $(agent_cmd "$AGENT_COPY" status)" ;;
    interrupted | bundle-failed) printf '%s' "$(backout_text) Record it first: $(agent_cmd "$AGENT_COPY" report)" ;;
    awaiting-reboot) printf '%s' "reboot   (then, logged in as root: $(agent_cmd "$AGENT_COPY" verify))" ;;
    handed-over) printf '%s' "if not done yet, run the vendor's script on the console as root ($(iso_commands_inline)), let it restart the appliance (or reboot), then: $(agent_cmd "$AGENT_COPY" verify --keep-ssh)" ;;
    awaiting-verify)
      if ((IS_ISO)); then
        printf '%s' "$(agent_cmd "$AGENT_COPY" verify --keep-ssh)"
      else
        printf '%s' "$(agent_cmd "$AGENT_COPY" verify)"
      fi
      ;;
    verify-failed) printf '%s' "$(agent_cmd "$AGENT_COPY" verify --timeout $((M[status_timeout] * 2)))   (if the services only need longer; otherwise $(backout_text))" ;;
    verified) printf '%s' "accept the metered servers' certificates in the web interface, attach $EVIDENCE_BASE.json/.md to ${M[ticket]}" ;;
  esac
}

cmd_status() {
  local ph
  state_load
  ph=$(phase)
  say "appliance:   ${M[appliance]} (${M[host]})"
  say "change:      ${M[ticket]}, ${M[inventory_version]} -> ${M[target]}"
  say "phase:       $ph"
  if [[ -n "$(state_get preflight_at)" ]]; then say "preflight:   $(state_get preflight_result) at $(state_get preflight_at)"; fi
  if [[ -n "$(state_get snapshot)" ]]; then say "snapshot:    $(state_get snapshot)"; fi
  if [[ -n "$(state_get bundle_started_at)" ]]; then
    say "bundle:      started $(state_get bundle_started_at), ended ${S[bundle_ended_at]:-never recorded}, exit ${S[bundle_exit]:-none}"
    say "             output: $RUN_DIR/bundle-output.log"
  fi
  if [[ -n "$(state_get handed_over_at)" ]]; then say "started:     $(state_get handed_over_at) (the vendor's upgrade-um.sh is run by the operator)"; fi
  if [[ -n "$(state_get verify_at)" ]]; then say "verify:      $(state_get verify_result) at $(state_get verify_at)"; fi
  case "$ph" in
    interrupted) say "INTERRUPTED: the bundle started and never recorded its end. Read $(upgrade_log_hint)." ;;
    bundle-failed) say "FAILED: the bundle exited with $(state_get bundle_exit). Read $(upgrade_log_hint)." ;;
  esac
  say "next:        $(next_command "$ph")"
  return 0
}

# --- evidence ------------------------------------------------------------------------------------

declare -a JSON_CTRL_CHARS=()
declare -a JSON_CTRL_ESC=()
json_init() {
  local i c
  for ((i = 1; i < 32; i++)); do
    case "$i" in 8 | 9 | 10 | 12 | 13) continue ;; esac
    printf -v c '%b' "\\$(printf '%03o' "$i")"
    JSON_CTRL_CHARS+=("$c")
    JSON_CTRL_ESC+=("$(printf '\\u%04x' "$i")")
  done
}

# JSON string literal of $1
js() {
  local s=$1 i
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=${s//$'\b'/\\b}
  s=${s//$'\f'/\\f}
  for ((i = 0; i < ${#JSON_CTRL_CHARS[@]}; i++)); do
    s=${s//"${JSON_CTRL_CHARS[i]}"/${JSON_CTRL_ESC[i]}}
  done
  printf '"%s"' "$s"
}

# JSON number when $1 is a whole number, else null
jn() {
  if [[ "$1" =~ ^-?[0-9]+$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}

# JSON array of strings from the words of $1
jwords() {
  local -a w=()
  local out="" x
  read -r -a w <<<"$1"
  for x in ${w[@]+"${w[@]}"}; do
    out+="${out:+, }$(js "$x")"
  done
  printf '[%s]' "$out"
}

# JSON true/false for yes/no, else null
jyn() {
  case "$1" in
    yes) printf 'true' ;;
    no) printf 'false' ;;
    *) printf 'null' ;;
  esac
}

jstate() {
  js "$(state_get "$1")"
}

json_checks() {
  local file="$RUN_DIR/checks.tsv" at cmd name result reason out=""
  if [[ -f "$file" ]]; then
    while IFS=$'\t' read -r at cmd name result reason || [[ -n "$at" ]]; do
      out+="${out:+,}"$'\n    '"{\"at\": $(js "$at"), \"command\": $(js "$cmd"), \"check\": $(js "$name"), \"result\": $(js "$result"), \"reason\": $(js "$reason")}"
    done <"$file"
  fi
  printf '[%s%s]' "$out" "${out:+$'\n  '}"
}

json_commands() {
  local file="$RUN_DIR/commands.tsv" at cmd desc argv rc dur out=""
  if [[ -f "$file" ]]; then
    while IFS=$'\t' read -r at cmd desc argv rc dur || [[ -n "$at" ]]; do
      out+="${out:+,}"$'\n    '"{\"at\": $(js "$at"), \"agent_command\": $(js "$cmd"), \"what\": $(js "$desc"), \"command\": $(js "$argv"), \"exit_code\": $(jn "$rc"), \"duration_s\": $(jn "$dur")}"
    done <"$file"
  fi
  printf '[%s%s]' "$out" "${out:+$'\n  '}"
}

output_tail() {
  printable_text "$(tail_lines "$1" "$2")"
}

EVIDENCE_JSON=""
build_evidence_json() {
  local ph bundle_tail status_tail log_errs blank digest
  ph=$(phase)
  bundle_tail=$(output_tail 40 "$RUN_DIR/bundle-output.log")
  status_tail=$(output_tail 60 "$RUN_DIR/status-output.txt")
  log_errs=$(output_tail 20 "$RUN_DIR/upgrade-log-errors.txt")
  blank="{
  \"schema\": $(js "$UM_EVIDENCE_SCHEMA"),
  \"digest\": \"\",
  \"written_at\": $(js "$(now_iso)"),
  \"appliance\": $(js "${M[appliance]}"),
  \"host\": $(js "${M[host]}"),
  \"ticket\": $(js "${M[ticket]}"),
  \"target\": $(js "${M[target]}"),
  \"delivery\": $(js "${M[delivery]}"),
  \"inventory_version\": $(js "${M[inventory_version]}"),
  \"phase\": $(js "$ph"),
  \"result\": $(js "$(evidence_result "$ph")"),
  \"agent\": {\"generator\": $(js "${M[generator]}"), \"manifest_version\": $(js "${M[manifest_version]}"), \"self_sha256\": $(js "$UM_SELF_SHA256"), \"file_sha256\": $(js "$UM_FILE_SHA256"), \"path\": $(js "$UM_SELF")},
  \"hostname_seen\": $(jstate hostname_seen),
  \"snapshot\": {\"name\": $(jstate snapshot), \"confirmed_by\": $(jstate snapshot_confirmed_by), \"manifest\": $(js "${M[snapshot]}")},
  \"preflight\": {\"at\": $(jstate preflight_at), \"result\": $(jstate preflight_result), \"fails\": $(jn "$(state_get preflight_fails)"), \"warns\": $(jn "$(state_get preflight_warns)")},
  \"version_before\": {\"value\": $(jstate version_before), \"source\": $(jstate version_before_source), \"visible\": $(jyn "$(state_get version_before_visible)"), \"confirmed_by\": $(jstate version_confirmed_by)},
  \"version_after\": {\"value\": $(jstate version_after), \"source\": $(jstate version_after_source), \"visible\": $(jyn "$(state_get version_after_visible)")},
  \"free_space\": {\"free_kib\": $(jn "$(state_get free_kb)"), \"needed_kib\": $(jn "$(state_get free_needed_kb)"), \"upload_dir\": $(js "$UPLOAD_DIR"), \"upload_free_kib\": $(jn "$(state_get free_upload_kb)")},
  \"bundle\": {\"file\": $(js "${M[bundle_file]}"), \"sha256_expected\": $(js "${M[bundle_sha256]}"), \"sha256_seen\": $(jstate bundle_sha256_seen), \"size_bytes\": $(jn "$(state_get bundle_size)"), \"command\": $(jstate bundle_command), \"confirmed_by\": $(jstate upgrade_confirmed_by), \"started_at\": $(jstate bundle_started_at), \"ended_at\": $(jstate bundle_ended_at), \"interrupted_at\": $(jstate bundle_interrupted_at), \"exit_code\": $(jn "$(state_get bundle_exit)"), \"duration_s\": $(jn "$(state_get bundle_duration_s)"), \"log\": $(jstate bundle_log), \"output_tail\": $(js "$bundle_tail"), \"handed_over_at\": $(jstate handed_over_at)},
  \"iso_checks\": {\"files\": $(jwords "${M[iso_file]} ${M[manifest_file]} ${M[certificate_file]} ${M[signature_file]}"), \"sha1_expected\": $(jstate iso_sha1_expected), \"sha1\": $(jstate iso_sha1_result), \"sha1_how\": $(jstate iso_sha1_how), \"openssl\": $(jstate iso_openssl), \"certificate\": $(jstate iso_certificate_result), \"certificate_subject\": $(jstate iso_certificate), \"chain\": $(jstate iso_chain_result), \"signature\": $(jstate iso_signature_result)},
  \"reboot\": {\"required\": $(js "${M[reboot_required]}"), \"boot_id_before\": $(jstate boot_id_before), \"boot_id_after\": $(jstate boot_id_after), \"rebooted\": $(jstate rebooted)},
  \"backup_dir\": {\"path\": $(js "$BACKUP_DIR"), \"before_preflight\": $(jstate backup_before), \"before_upgrade\": $(jstate backup_before_upgrade)},
  \"services\": {\"verdict\": $(jstate services_verdict), \"why\": $(jstate services_why), \"polls\": $(jn "$(state_get services_polls)"), \"waited_s\": $(jn "$(state_get services_wait_s)"), \"status_output_tail\": $(js "$status_tail")},
  \"upgrade_log\": {\"files\": $(jwords "$(state_get upgrade_logs)"), \"error_line_count\": $(jn "$(state_get upgrade_log_error_count)"), \"error_lines\": $(js "$log_errs")},
  \"verify\": {\"at\": $(jstate verify_at), \"result\": $(jstate verify_result)},
  \"ssh_stopped\": $(jstate ssh_stopped),
  \"metered_servers\": $(jwords "${M[metered_servers]}"),
  \"last_error\": $(jstate last_error),
  \"checks\": $(json_checks),
  \"commands\": $(json_commands)
}
"
  digest=$(printf '%s' "$blank" | sha256sum)
  digest=${digest%% *}
  EVIDENCE_JSON=${blank/\"digest\": \"\"/\"digest\": \"sha256:$digest\"}
}

evidence_result() {
  case "$1" in
    verified) printf 'upgraded' ;;
    verify-failed | bundle-failed | interrupted) printf 'failed' ;;
    *) printf 'in progress' ;;
  esac
}

# Markdown: inventory text escaped so that it stays text in any renderer.
md() {
  local s
  s=$(one_line "$1")
  s=${s//&/&amp;}
  s=${s//</&lt;}
  s=${s//>/&gt;}
  s=${s//\\/\\\\}
  s=${s//\`/\\\`}
  s=${s//|/\\|}
  s=${s//\*/\\*}
  s=${s//\[/\\[}
  s=${s//\]/\\]}
  printf '%s' "$s"
}

md_block() {
  local line
  printf '~~~~text\n'
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" == '~~~~'* ]]; then line=" $line"; fi
    printf '%s\n' "$line"
  done <<<"$1"
  printf '~~~~\n'
}

build_evidence_md() {
  local ph at cmd name result reason desc argv rc dur
  ph=$(phase)
  printf '# Upgrade evidence: %s, change %s\n\n' "$(md "${M[appliance]}")" "$(md "${M[ticket]}")"
  printf '| | |\n|---|---|\n'
  printf '| Appliance | %s (%s) |\n' "$(md "${M[appliance]}")" "$(md "${M[host]}")"
  printf '| Change | %s |\n' "$(md "${M[ticket]}")"
  printf '| Target | %s |\n' "$(md "${M[target]}")"
  printf '| Result | %s (phase: %s) |\n' "$(md "$(evidence_result "$ph")")" "$(md "$ph")"
  printf '| Version before | %s (%s) |\n' "$(md "$(state_get version_before)")" "$(md "$(state_get version_before_source)${S[version_confirmed_by]:+, confirmed by ${S[version_confirmed_by]}}")"
  printf '| Version after | %s (%s) |\n' "$(md "$(state_get version_after)")" "$(md "$(state_get version_after_source)")"
  printf '| Snapshot | %s (%s) |\n' "$(md "$(state_get snapshot)")" "$(md "$(state_get snapshot_confirmed_by)")"
  printf '| Bundle | %s, sha256 %s |\n' "$(md "${M[bundle_file]}")" "$(md "$(state_get bundle_sha256_seen)")"
  if ((IS_ISO)); then
    printf '| ISO checks | SHA-1 %s (%s); certificate %s, chain %s; signature %s (openssl %s) |\n' "$(md "$(state_get iso_sha1_result)")" "$(md "$(state_get iso_sha1_expected)")" "$(md "$(state_get iso_certificate_result)")" "$(md "$(state_get iso_chain_result)")" "$(md "$(state_get iso_signature_result)")" "$(md "$(state_get iso_openssl)")"
    printf '| Upgrade started | %s; the vendor script run by the operator: %s |\n' "$(md "$(state_get handed_over_at)")" "$(md "$(state_get bundle_command)")"
  else
    printf '| Bundle run | started %s, ended %s, exit %s, %s s |\n' "$(md "$(state_get bundle_started_at)")" "$(md "$(state_get bundle_ended_at)")" "$(md "$(state_get bundle_exit)")" "$(md "$(state_get bundle_duration_s)")"
  fi
  printf '| Reboot | required: %s; boot id %s -> %s |\n' "$(md "${M[reboot_required]}")" "$(md "$(state_get boot_id_before)")" "$(md "$(state_get boot_id_after)")"
  printf '| Services | %s after %s poll(s), %s s |\n' "$(md "$(state_get services_verdict)")" "$(md "$(state_get services_polls)")" "$(md "$(state_get services_wait_s)")"
  printf '| Upgrade log | %s (%s error line(s)) |\n' "$(md "$(state_get upgrade_logs)")" "$(md "$(state_get upgrade_log_error_count)")"
  printf '| sshd stopped | %s |\n' "$(md "$(state_get ssh_stopped)")"
  printf '| Agent | %s, file sha256 %s |\n' "$(md "${M[generator]}")" "$(md "$UM_FILE_SHA256")"
  printf '\n## Checks\n\n| At | Command | Check | Result | Reason |\n|---|---|---|---|---|\n'
  if [[ -f "$RUN_DIR/checks.tsv" ]]; then
    while IFS=$'\t' read -r at cmd name result reason || [[ -n "$at" ]]; do
      printf '| %s | %s | %s | %s | %s |\n' "$(md "$at")" "$(md "$cmd")" "$(md "$name")" "$(md "$result")" "$(md "$reason")"
    done <"$RUN_DIR/checks.tsv"
  fi
  printf '\n## Commands\n\n| At | What | Command | Exit | Seconds |\n|---|---|---|---|---|\n'
  if [[ -f "$RUN_DIR/commands.tsv" ]]; then
    while IFS=$'\t' read -r at cmd desc argv rc dur || [[ -n "$at" ]]; do
      printf '| %s | %s | %s | %s | %s |\n' "$(md "$at")" "$(md "$desc")" "$(md "$argv")" "$(md "$rc")" "$(md "$dur")"
    done <"$RUN_DIR/commands.tsv"
  fi
  if ((!IS_ISO)); then
    printf '\n## Bundle output (last lines)\n\n'
    md_block "$(output_tail 40 "$RUN_DIR/bundle-output.log")"
  fi
  printf '\n## Service status (last output)\n\n'
  md_block "$(output_tail 60 "$RUN_DIR/status-output.txt")"
  if [[ -s "$RUN_DIR/upgrade-log-errors.txt" ]]; then
    printf '\n## Upgrade log: error lines\n\n'
    md_block "$(output_tail 20 "$RUN_DIR/upgrade-log-errors.txt")"
  fi
  local -a servers=()
  read -r -a servers <<<"${M[metered_servers]}"
  printf '\n## After the upgrade\n\nAccept again, in the web interface, the certificates of the metered servers:\n\n'
  local s
  for s in ${servers[@]+"${servers[@]}"}; do
    printf -- '- %s\n' "$(md "$s")"
  done
  ((${#servers[@]} > 0)) || printf -- '- (none named in the inventory: every server listed in the web interface)\n'
}

write_file_atomic() {
  local path=$1 content=$2 tmp
  tmp="$path.tmp.$$"
  printf '%s' "$content" >"$tmp"
  chmod 600 -- "$tmp"
  sync
  mv -f -T -- "$tmp" "$path"
}

write_evidence() {
  local quiet=${1:-} mdtext
  json_init
  build_evidence_json
  mdtext=$(build_evidence_md)
  if ((DRY_RUN)); then
    say "DRY-RUN: would write $EVIDENCE_BASE.json and $EVIDENCE_BASE.md"
    return 0
  fi
  mkdir -p -- "$STATE_DIR"
  write_file_atomic "$EVIDENCE_BASE.json" "$EVIDENCE_JSON"
  write_file_atomic "$EVIDENCE_BASE.md" "$mdtext"$'\n'
  if [[ "$quiet" != quiet ]]; then
    printf '%s\n' "$mdtext"
    say ""
    say "Evidence written: $EVIDENCE_BASE.json and $EVIDENCE_BASE.md (copy both to the change ticket ${M[ticket]})."
  fi
}

cmd_report() {
  acquire_lock
  state_load
  write_evidence
  return 0
}

# --- entry ---------------------------------------------------------------------------------------

on_err() {
  local rc=$1 line=$2 cmd=$3
  trap - ERR
  set +e
  printf '%s: STOPPED: unexpected error at line %s (%s), exit %s.\n' "$UM_PROG" "$line" "$cmd" "$rc" >&2
  if [[ -n "$STATE_FILE" ]] && ((!DRY_RUN)) && [[ -d "$RUN_DIR" ]]; then
    state_set last_error "$(now_iso) line $line: $cmd (exit $rc)" >/dev/null 2>&1
  fi
  printf '%s: Nothing more was done after that point. See where the procedure stands: bash %s status\n' "$UM_PROG" "${AGENT_COPY:-$UM_NAME}" >&2
  if ((rc == 0)); then rc=1; fi
  exit "$rc"
}

install_err_trap() {
  trap 'on_err "$?" "$LINENO" "$BASH_COMMAND"' ERR
}

main() {
  install_err_trap
  parse_args "$@"
  setup_paths
  local c
  for c in sha256sum date df stat tail tee tr cp mv mkdir sync chmod cat dirname basename uname cut; do
    need_cmd "$c"
  done
  case "$COMMAND" in
    help)
      usage
      return 0
      ;;
    preflight) cmd_preflight ;;
    upgrade) cmd_upgrade ;;
    verify) cmd_verify ;;
    status) cmd_status ;;
    report) cmd_report ;;
    *) usage_error "unknown command '$COMMAND'." ;;
  esac
}

if ((UM_SOURCED == 0)); then main "$@"; fi
# end of um-upgrade-agent.sh
