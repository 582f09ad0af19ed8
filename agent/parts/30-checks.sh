# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
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

LAST_CHECK_RESULT=""
LAST_CHECK_REASON=""
check() {
  local result=$1 name=$2 reason=$3
  LAST_CHECK_RESULT=$result
  LAST_CHECK_REASON=$reason
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

