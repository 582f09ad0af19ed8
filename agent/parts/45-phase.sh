# shellcheck shell=bash
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

# The revert deletes everything the agent wrote: the evidence comes off the appliance first.
evidence_first_text() {
  printf 'Collect the evidence first, before any revert: run %s, then copy the folder %s (and the upgrade logs %s/var/logs/inplaceupgradeum-*) to the workstation with the package'"'"'s fetch-evidence.sh (OpenSSH) or winscp-fetch-evidence.cmd (WinSCP), as the runbook'"'"'s first backout step says.' \
    "$(agent_cmd "$AGENT_COPY" report)" "$STATE_DIR/" "$INSTALL_DIR"
}

backout_text() {
  printf '%s Only then the backout: restore the appliance from the snapshot "%s" (taken before the upgrade, recorded at preflight), then repeat the procedure from the start as the runbook says.' "$(evidence_first_text)" "$(snapshot_name)"
}

upgrade_log_hint() {
  if ((IS_ISO)); then
    printf 'the last messages of upgrade-um.sh on the console, and any upgrade log under %s/var/logs/' "$INSTALL_DIR"
    return 0
  fi
  printf 'the bundle output %s and the upgrade log %s/var/logs/inplaceupgradeum-* (or under %s/var/logs/)' \
    "$RUN_DIR/bundle-output.log" "$INSTALL_DIR" "$BACKUP_DIR"
}

