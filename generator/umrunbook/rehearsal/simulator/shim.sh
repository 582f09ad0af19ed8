#!/bin/bash
# shim.sh: stands in for service, systemctl, reboot, shutdown and hostname inside a simulated
# Usage Meter appliance (umrunbook simulator). It records what was asked and changes nothing.
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

# sshd's state: sim/sshd-enabled and sim/sshd-running hold yes or no.
sshd_unit() {
  local name=$1 action unit
  shift
  if [[ "$name" == service ]]; then unit=${1:-} action=${2:-}; else action=${1:-} unit=${2:-}; fi
  [[ "$unit" == sshd || "$unit" == sshd.service ]] || return 0
  case "$action" in
    enable) echo yes >"$UM_SIM_DIR/sshd-enabled" ;;
    disable) echo no >"$UM_SIM_DIR/sshd-enabled" ;;
    start | restart) echo yes >"$UM_SIM_DIR/sshd-running" ;;
    stop) echo no >"$UM_SIM_DIR/sshd-running" ;;
    is-enabled)
      if [[ "$(cat "$UM_SIM_DIR/sshd-enabled")" == yes ]]; then echo enabled; else echo disabled; exit 1; fi
      ;;
    is-active | status)
      if [[ "$(cat "$UM_SIM_DIR/sshd-running")" == yes ]]; then
        echo active
      else
        echo inactive
        exit 3
      fi
      ;;
  esac
}

main() {
  local name
  name=$(basename -- "$0")
  if [[ -z "${UM_SIM_DIR:-}" || ! -f "$UM_SIM_DIR/spec.env" ]]; then
    printf 'simulator shim (%s): outside a simulated appliance: nothing done\n' "$name" >&2
    exit 1
  fi
  case "$name" in
    hostname)
      case "${1:-}" in
        '' | -s | --short) spec_get hostname ;;
        -f | --fqdn | --long | -A | --all-fqdns) spec_get fqdn ;;
        *)
          printf 'hostname: simulated: option %s not supported\n' "$1" >&2
          exit 1
          ;;
      esac
      printf '\n'
      ;;
    reboot | shutdown | halt | poweroff)
      printf '%s %s\n' "$name" "$*" >>"$UM_SIM_DIR/service.log"
      : >"$UM_SIM_DIR/reboot-requested"
      printf 'simulated appliance: %s requested (the simulation reboots before the next command)\n' "$name"
      ;;
    service | systemctl)
      # What changes something is logged; a question (is-enabled, is-active, status) is not.
      case " $* " in
        *" is-enabled "* | *" is-active "* | *" status "*) ;;
        *) printf '%s %s\n' "$name" "$*" >>"$UM_SIM_DIR/service.log" ;;
      esac
      sshd_unit "$name" "$@"
      ;;
    *)
      printf 'simulator shim: unknown name %s\n' "$name" >&2
      exit 1
      ;;
  esac
}

main "$@"
