# shellcheck shell=bash
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
    readiness) cmd_readiness ;;
    finish) cmd_finish ;;
    check-cdrom) cmd_check_cdrom ;;
    *) usage_error "unknown command '$COMMAND'." ;;
  esac
}

if ((UM_SOURCED == 0)); then main "$@"; fi
