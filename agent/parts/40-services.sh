# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
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

