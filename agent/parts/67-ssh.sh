# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
# --- SSH: its state recorded at preflight, put back by finish ------------------------------------

# The runbook turns SSH on for this change (its step "Enable SSH") before the agent can be
# uploaded, so at preflight the agent sees SSH as that step left it. What it was before the
# change follows from that step: it started sshd (so it was stopped), and where the procedure
# manages it with systemctl it also enabled it (so it was disabled); with 'service' the step only
# starts it, and the enabled state seen at preflight is the one from before the change.
SSH_ENABLED=unknown
SSH_RUNNING=unknown
ssh_read_state() {
  local out rc
  SSH_ENABLED=unknown
  SSH_RUNNING=unknown
  if have_cmd systemctl; then
    out=$(systemctl is-enabled sshd 2>/dev/null) || true
    case "$out" in
      enabled) SSH_ENABLED=yes ;;
      disabled) SSH_ENABLED=no ;;
    esac
  fi
  if [[ "${M[ssh_service_manager]}" == systemctl ]]; then
    if have_cmd systemctl; then
      out=$(systemctl is-active sshd 2>/dev/null) || true
      case "$out" in
        active) SSH_RUNNING=yes ;;
        inactive | failed) SSH_RUNNING=no ;;
      esac
    fi
  elif have_cmd service; then
    rc=0
    service sshd status >/dev/null 2>&1 || rc=$?
    case "$rc" in
      0) SSH_RUNNING=yes ;;
      3) SSH_RUNNING=no ;;
    esac
  fi
}

# preflight: the first one records what it found; later ones keep that record.
preflight_ssh() {
  local before_enabled
  ssh_read_state
  if [[ -z "$(state_get ssh_found_at)" ]]; then
    before_enabled=$SSH_ENABLED
    if [[ "${M[ssh_service_manager]}" == systemctl ]]; then before_enabled=no; fi
    state_set ssh_found_at "$(now_iso)" ssh_found_enabled "$SSH_ENABLED" ssh_found_running "$SSH_RUNNING" \
      ssh_before_enabled "$before_enabled" ssh_before_running no
  fi
  check INFO "ssh" "sshd now: enabled $SSH_ENABLED, running $SSH_RUNNING; before the change (the runbook's SSH step turned it on): enabled $(state_get ssh_before_enabled), running $(state_get ssh_before_running). 'finish' puts it back"
}

ssh_argv() {
  # ssh_argv stop|disable: the command that does it to sshd here.
  case "$1:${M[ssh_service_manager]}" in
    disable:*) SSH_ARGV=(systemctl disable sshd) ;;
    stop:systemctl) SSH_ARGV=(systemctl stop sshd) ;;
    *) SSH_ARGV=(service sshd stop) ;;
  esac
}

cmd_finish() {
  local ph want_enabled want_running failed=""
  local -a SSH_ARGV=()
  acquire_lock
  state_load
  ph=$(phase)
  if [[ "$ph" != verified ]]; then
    die 3 "WRONG PHASE: finish is the last command of a verified upgrade (phase: $ph)." \
      "Next: $(next_command "$ph")"
  fi
  if [[ -z "$(state_get ssh_found_at)" ]]; then
    die 1 "FAIL: no SSH state was recorded at preflight (the run's state predates this agent): put SSH back by hand on the console, as it was before the change."
  fi
  want_enabled=$(state_get ssh_before_enabled)
  want_running=$(state_get ssh_before_running)
  say "== finish: ${M[appliance]} (${M[host]}), change ${M[ticket]}"
  ssh_read_state
  say "sshd now: enabled $SSH_ENABLED, running $SSH_RUNNING; before the change: enabled $want_enabled, running $want_running"
  if [[ "$want_enabled" == no && "$SSH_ENABLED" != no ]]; then
    ssh_argv disable
    run "disable sshd as it was before the change" "${SSH_ARGV[@]}" || failed+=" disable (exit $LAST_RC)"
  fi
  if [[ "$want_running" == no && "$SSH_RUNNING" != no ]]; then
    ssh_argv stop
    run "stop sshd as it was before the change" "${SSH_ARGV[@]}" || failed+=" stop (exit $LAST_RC)"
  fi
  if ((DRY_RUN)); then
    say "DRY-RUN: then would record SSH's state and rewrite the evidence; nothing was changed."
    return 0
  fi
  ssh_read_state
  state_set finished_at "$(now_iso)" ssh_after_enabled "$SSH_ENABLED" ssh_after_running "$SSH_RUNNING" \
    ssh_stopped "$([[ "$SSH_RUNNING" == no ]] && printf yes || printf 'no (running %s)' "$SSH_RUNNING")"
  write_evidence quiet
  say "sshd after finish: enabled $SSH_ENABLED, running $SSH_RUNNING (an open SSH session may stay until you log out)."
  say "Evidence rewritten: $EVIDENCE_BASE.json and $EVIDENCE_BASE.md."
  if [[ -n "$failed" || ("$want_running" == no && "$SSH_RUNNING" != no) || ("$want_enabled" == no && "$SSH_ENABLED" != no) ]]; then
    die 1 "FAIL: SSH is not back as it was before the change (${failed# }): on the console, $(ssh_argv stop && printf '%s' "${SSH_ARGV[*]}")$([[ "$want_enabled" == no ]] && printf ' and systemctl disable sshd'), then run finish again."
  fi
  say "FINISHED: SSH is back as it was before the change; note this line in ${M[ticket]}."
  return 0
}
