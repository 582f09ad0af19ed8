# shellcheck shell=bash
# --- status --------------------------------------------------------------------------------------

next_command() {
  local ph=$1 timeout=${M[status_timeout]}
  case "$ph" in
    new | preflight-failed) printf '%s' "cd $UPLOAD_DIR && $(agent_cmd "./$UM_NAME" preflight)" ;;
    preflight-passed) printf '%s' "cd $UPLOAD_DIR && $(agent_cmd "./$UM_NAME" upgrade)" ;;
    bundle-running) printf '%s' "wait for the running upgrade, then: $(agent_cmd "$AGENT_COPY" status)" ;;
    interrupted | bundle-failed) printf '%s' "$(backout_text)" ;;
    awaiting-reboot) printf '%s' "reboot   (then, logged in as root: $(agent_cmd "$AGENT_COPY" verify))" ;;
    handed-over) printf '%s' "if not done yet, run the vendor's script on the console as root ($(iso_commands_inline)), let it restart the appliance (or reboot), then: $(agent_cmd "$AGENT_COPY" verify)" ;;
    awaiting-verify) printf '%s' "$(agent_cmd "$AGENT_COPY" verify)" ;;
    verify-failed) printf '%s' "$(agent_cmd "$AGENT_COPY" verify --timeout $((timeout * 2)))   (if the services only need longer; otherwise $(backout_text))" ;;
    verified)
      if [[ -n "$(state_get finished_at)" ]]; then
        printf '%s' "accept the metered servers' certificates in the web interface; the evidence $EVIDENCE_BASE.json/.md goes to ${M[ticket]}"
      else
        printf '%s' "copy the evidence ($STATE_DIR/) to the workstation, then: $(agent_cmd "$AGENT_COPY" finish)   (puts SSH back as it was before the change)"
      fi
      ;;
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

