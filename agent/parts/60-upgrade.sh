# shellcheck shell=bash
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

# The vendor's ISO procedure as field reports give it, with umrunbook's one change: the ISO file
# checked in the upload folder is loop-mounted, not /dev/cdrom, so the ISO that was checked is the
# one that runs. The operator runs these by hand, since the script asks questions on the console;
# the agent prints them and never runs them.
ISO_VENDOR_COMMANDS=()
iso_vendor_commands() {
  ISO_VENDOR_COMMANDS=(
    "mkdir -p /root/upgrade"
    "mount -o loop $(quote_argv "$BUNDLE_PATH") /root/upgrade"
    "bash /root/upgrade/upgrade-um.sh"
  )
}

iso_commands_inline() {
  local joined
  iso_vendor_commands
  joined=$(printf '%s; ' "${ISO_VENDOR_COMMANDS[@]}")
  printf '%s' "${joined%; }"
}

iso_commands_block() {
  local c
  iso_vendor_commands
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
  say "says (it mounts the checked $(one_line "${M[iso_file]}") from $(one_line "$UPLOAD_DIR")):"
  iso_commands_block
  say "Only where the ISO cannot be uploaded and is attached to the CD/DVD drive instead: check"
  say "the disc against the vendor's manifest before you mount the drive (a previous hop's ISO"
  say "may still be in the drive): $(agent_cmd "$AGENT_COPY" check-cdrom)"
  if ! vcf_prompts; then
    say "Answer its questions (a snapshot was taken: y) and let it restart the appliance at the end"
    say "(or reboot it yourself). After the reboot, log in as root and run:"
  fi
  say "    $(agent_cmd "$AGENT_COPY" verify)"
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
  if ((FREE_SPACE_LOW && OPT_ACCEPT_LOW_SPACE)); then
    state_set free_low_accepted "--accept-low-space at $(now_iso)"
    check WARN "free space" "below umrunbook's margin, accepted with --accept-low-space (recorded in the evidence)"
  elif ((FREE_SPACE_LOW && !DRY_RUN)); then
    check FAIL "free space" "below umrunbook's margin (the WARN above; the bundle itself fits): free space, or run upgrade again with --accept-low-space to go on (recorded in the evidence)"
  fi
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
      "$(backout_text)"
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

