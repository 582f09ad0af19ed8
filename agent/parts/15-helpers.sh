# shellcheck shell=bash
# --- helpers -----------------------------------------------------------------------------------

say() {
  printf '%s\n' "$*"
}

note() {
  printf '%s: %s\n' "$UM_PROG" "$*"
}

die() {
  local code=$1
  shift
  printf '%s: %s\n' "$UM_PROG" "$1" >&2
  shift
  if (($# > 0)); then
    printf '%s\n' "$@" >&2
  fi
  exit "$code"
}

need_cmd() {
  if ! command -v "$1" >/dev/null 2>&1; then
    die 1 "FAIL: the command '$1' is needed and not found on this system (it is part of ${2:-coreutils})." \
      "Nothing was changed. Run the agent on the Usage Meter appliance itself."
  fi
}

have_cmd() {
  command -v "$1" >/dev/null 2>&1
}

now_iso() {
  date -u +%Y-%m-%dT%H:%M:%SZ
}

now_epoch() {
  printf '%(%s)T' -1
}

# A value as one line: state, journal and evidence never hold a raw newline or tab from outside.
one_line() {
  local s=$1
  s=${s//$'\r'/ }
  s=${s//$'\n'/ }
  s=${s//$'\t'/ }
  printf '%s' "$s"
}

quote_argv() {
  local out="" a q
  for a in "$@"; do
    printf -v q '%q' "$a"
    out+="${out:+ }$q"
  done
  printf '%s' "$out"
}

strip_ansi() {
  local s=$1
  local re=$'\e''\[[0-9;?<=>]*[ -/]*[@-~]'
  local re2=$'\e''\][^'$'\a'']*'$'\a'
  local re3=$'\e''[()][0-9A-Za-z]'
  while [[ "$s" =~ $re ]]; do s=${s/"${BASH_REMATCH[0]}"/}; done
  while [[ "$s" =~ $re2 ]]; do s=${s/"${BASH_REMATCH[0]}"/}; done
  while [[ "$s" =~ $re3 ]]; do s=${s/"${BASH_REMATCH[0]}"/}; done
  s=${s//$'\e'/}
  printf '%s' "$s"
}

# Text from outside programs in the evidence: escapes removed, printable ASCII, tabs and newlines.
printable_text() {
  strip_ansi "$1" | tr -c '\11\12\40-\176' '?'
}

tail_lines() {
  local n=$1 file=$2
  if [[ -r "$file" ]]; then
    tail -n "$n" -- "$file" || true
  fi
}

