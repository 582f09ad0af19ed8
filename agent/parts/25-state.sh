# shellcheck shell=bash
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

