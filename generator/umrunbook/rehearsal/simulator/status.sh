#!/bin/bash
# status.sh of a simulated Usage Meter appliance (umrunbook simulator): prints the state of the
# services in one of several layouts, as the real scripts/status.sh's layout is undocumented.
set -euo pipefail

spec_get() {
  local key=$1 line
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "${line%%=*}" == "$key" ]]; then
      printf '%s' "${line#*=}"
      return 0
    fi
  done <"$UM_SIM_DIR/spec.env"
}

state_of() {
  local index=$1 mode=$2 polls=$3
  case "$mode" in
    running) printf 'Running' ;;
    offline) if ((index == 1)); then printf 'Offline'; else printf 'Running'; fi ;;
    slow:*)
      if ((polls <= ${mode#slow:})) && ((index % 2 == 0)); then printf 'not running'; else printf 'Running'; fi
      ;;
    *) printf 'Stopped' ;;
  esac
}

main() {
  local mode layout polls=0 i state
  local -a names=()
  if [[ -z "${UM_SIM_DIR:-}" ]]; then
    printf 'status.sh: simulated appliance: UM_SIM_DIR is not set\n' >&2
    exit 1
  fi
  mode=$(<"$UM_SIM_DIR/services")
  layout=$(spec_get layout)
  if [[ -f "$UM_SIM_DIR/polls" ]]; then polls=$(<"$UM_SIM_DIR/polls"); fi
  polls=$((polls + 1))
  printf '%s\n' "$polls" >"$UM_SIM_DIR/polls"
  if [[ "$layout" == other ]]; then
    names=(usage-meter-scheduler gateway database web-ui)
  else
    names=(Nginx GW Core DSS VcCol vcdCol nsxtCol gnatsd)
  fi
  case "$layout" in
    headers)
      printf 'VMware vCloud Usage Meter service status\n'
      printf '========================================\n\n'
      printf '%-12s %s\n' SERVICE STATE '-------' '-----'
      ;;
    colour) printf '\033[1mUsage Meter services\033[0m\n' ;;
  esac
  for ((i = 0; i < ${#names[@]}; i++)); do
    state=$(state_of "$i" "$mode" "$polls")
    case "$layout" in
      headers) printf '%-12s %s\n' "${names[i]}" "$state" ;;
      colour)
        case "$state" in
          Running) printf '%-10s \033[1;32m%s\033[0m\n' "${names[i]}" "$state" ;;
          *) printf '%-10s \033[1;31m%s\033[0m\n' "${names[i]}" "$state" ;;
        esac
        ;;
      other) printf '%s (pid %d) is %s\n' "${names[i]}" "$((4200 + i))" "${state,,}" ;;
      *) printf '%s: %s\n' "${names[i]}" "$state" ;;
    esac
  done
  if [[ "$layout" == headers ]]; then
    printf '\n%d services listed.\n' "${#names[@]}"
  fi
}

main "$@"
