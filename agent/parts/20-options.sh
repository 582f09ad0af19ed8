# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
# --- options and manifest values ----------------------------------------------------------------

COMMAND=""
DRY_RUN=0
ASSUME_YES=0
OPT_SNAPSHOT=""
OPT_SNAPSHOT_SET=0
OPT_REBOOT=0
OPT_ACCEPT_LOW_SPACE=0
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
    # An ISO that comes alone (9.x) has no manifest, certificate or signature named, and its
    # SHA-256 is the check; otherwise all four files are named.
    if [[ -n "${M[manifest_file]}${M[certificate_file]}${M[signature_file]}" ]]; then
      for k in iso_file manifest_file certificate_file signature_file; do
        [[ -n "${M[$k]}" ]] || manifest_refused "$k is empty for an ISO bundle"
      done
    else
      [[ -n "${M[iso_file]}" ]] || manifest_refused "iso_file is empty for an ISO bundle"
      [[ -n "${M[bundle_sha256]}" ]] || manifest_refused "bundle_sha256 is empty for an ISO without a manifest"
    fi
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
              services (waits until they run), upgrade log; writes the evidence; leaves SSH on
              for the evidence copy
  check-cdrom ISO attached to the CD/DVD drive (not mounted from the uploaded file): checks the
              disc's SHA-1 against the manifest before you mount it; records it
  finish      the last command, once the evidence is copied: puts SSH back as it was before
              the change (recorded at preflight), records it and rewrites the evidence
  status      where this appliance is in the procedure, and the exact next command
  report      writes and prints the evidence (JSON and Markdown) for the change ticket
  readiness   days before the window: records what the night depends on (host keys, root's
              password expiry, free space, version, services, tdnf, proxy), each ready / not
              ready / unknown and why; changes nothing (writes readiness-*.json in the state folder)
  help        this text

Options:
  --dry-run               print every action it would take; change nothing, run nothing
  --yes                   no questions: confirmations are taken as given (recorded as such)
  --snapshot NAME         the snapshot or backup taken before the upgrade (preflight, upgrade)
  --reboot                upgrade: reboot by itself once the bundle succeeded (when needed)
  --accept-low-space      upgrade: go on although the free space is below umrunbook's margin
                          (the bundle itself fits; recorded in the evidence)
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
      --accept-low-space) OPT_ACCEPT_LOW_SPACE=1 ;;
      --keep-ssh) usage_error "--keep-ssh is gone: verify leaves SSH as it is, and 'finish' (the last command) puts SSH back as it was before the change." ;;
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

