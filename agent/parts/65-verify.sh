# shellcheck shell=bash
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

# verify_refuse_wrong_phase PHASE: exits 3 unless the upgrade ran (and, where the procedure has
# one, the reboot came).
verify_refuse_wrong_phase() {
  local ph=$1
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
}

verify_reboot() {
  local bid
  bid=$(read_boot_id)
  if [[ "${M[reboot_required]}" == yes ]]; then
    state_set boot_id_after "$bid" rebooted yes
    check PASS "reboot" "the boot id changed since the $(if ((IS_ISO)); then printf 'upgrade was started'; else printf 'bundle ran'; fi) ($(state_get boot_id_before) -> $bid)"
  else
    state_set boot_id_after "$bid" rebooted "not required"
    check PASS "reboot" "not part of the ${M[target]} procedure"
  fi
}

verify_folders() {
  local old_id new_id
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
}

verify_version() {
  local num target_num
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
}

# The inplaceupgradeum-* logs of this upgrade and their error lines.
verify_upgrade_logs() {
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
}

# verify_services TIMEOUT INTERVAL: polls status.sh until every service runs or TIMEOUT s passed.
verify_services() {
  local timeout=$1 interval=$2 start deadline now polls=0 last_raw="" wait
  if status_absent_ok "${M[target]}"; then return 0; fi # 9.x: 52-vcf.sh
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
    wait=$interval
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
}

verify_next_steps() {
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
}

cmd_verify() {
  local ph timeout interval
  acquire_lock
  state_load
  ph=$(phase)
  verify_refuse_wrong_phase "$ph"
  timeout=${OPT_TIMEOUT:-${M[status_timeout]}}
  interval=$OPT_POLL_INTERVAL
  CHECK_FAILS=0
  CHECK_WARNS=0
  say "== verify: ${M[appliance]} (${M[host]}) upgrade to ${M[target]}, change ${M[ticket]}"
  if ((DRY_RUN)); then say "DRY-RUN: checks that only read are done; nothing is written, status.sh and sshd are not touched."; fi

  verify_reboot
  verify_folders
  verify_version
  verify_upgrade_logs

  if ((DRY_RUN)); then
    say "DRY-RUN: would run: cd $INSTALL_DIR && ./scripts/status.sh every $interval s until all services say Running, at most $timeout s"
    say "DRY-RUN: then would write the evidence ($EVIDENCE_BASE.json, .md)"
    say "DRY-RUN: nothing was changed."
    return 0
  fi

  verify_services "$timeout" "$interval"

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
  say "SSH stays on for the evidence copy. Copy $STATE_DIR/ to the workstation, then, as the last"
  say "command: $(agent_cmd "$AGENT_COPY" finish)   (puts SSH back as it was before the change)"
  say ""
  verify_next_steps
  return 0
}
