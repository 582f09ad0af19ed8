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

# mount -o loop SOURCE /root/upgrade (SOURCE: the ISO file or /dev/cdrom) and umount
# /root/upgrade: the ISO's content is its bytes after the first line (the simulator's ISO).
disc() {
  local name=$1 source="" target="" first
  shift
  while (($# > 0)); do
    case "$1" in
      -o) shift ;;
      -*) ;;
      *) if [[ -z "$source" ]]; then source=$1; else target=$1; fi ;;
    esac
    shift
  done
  if [[ "$name" == umount ]]; then target=$source; fi
  if [[ "${target%/}" != /root/upgrade ]]; then
    printf '%s: simulated: only /root/upgrade is supported (got %s)\n' "$name" "$*" >&2
    exit 32
  fi
  printf '%s %s\n' "$name" "${source:+$source }$target" >>"$UM_SIM_DIR/service.log"
  if [[ "$name" == umount ]]; then
    if [[ ! -f "$UM_SIM_DIR/mounted" ]]; then
      printf 'umount: /root/upgrade: not mounted.\n' >&2
      exit 32
    fi
    rm -f -- /root/upgrade/upgrade-um.sh "$UM_SIM_DIR/mounted"
    return 0
  fi
  if [[ -f "$UM_SIM_DIR/mounted" ]]; then
    printf 'mount: /root/upgrade: %s already mounted.\n' "$(cat "$UM_SIM_DIR/mounted")" >&2
    exit 32
  fi
  if [[ ! -e "$source" ]]; then
    printf 'mount: %s: special device %s does not exist.\n' "$target" "$source" >&2
    exit 32
  fi
  if [[ ! -s "$source" ]]; then
    printf 'mount: %s: no medium found on %s.\n' "$target" "$source" >&2
    exit 32
  fi
  IFS= read -r first <"$source" || true
  if [[ "$first" != "UM-SIM-ISO9660 "* ]]; then
    printf 'mount: %s: wrong fs type, bad option, bad superblock on %s.\n' "$target" "$source" >&2
    exit 32
  fi
  mkdir -p /root/upgrade
  tail -n +2 -- "$source" >/root/upgrade/upgrade-um.sh
  printf '%s\n' "$source" >"$UM_SIM_DIR/mounted"
  printf 'mount: /root/upgrade: WARNING: source write-protected, mounted read-only.\n' >&2
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
    mount | umount) disc "$name" "$@" ;;
    pam_tally2)
      # pam_tally2 --user=usagemeter [--reset]: the account's failed logins (none).
      printf 'Login           Failures Latest failure     From\n%-15s %8s\n' "${1#--user=}" 0
      ;;
    chage)
      # chage -l USER: the appliance's accounts (root, usagemeter); root's password expires as
      # the spec says (usagemeter's never).
      if [[ "${1:-}" != -l || ! "${2:-}" =~ ^(root|usagemeter)$ ]]; then
        printf "chage: user '%s' does not exist in /etc/passwd\n" "${2:-}" >&2
        exit 1
      fi
      local expires=never
      if [[ "$2" == root ]]; then expires=$(spec_get root_password_expires); fi
      printf '%s\n' "Last password change					: May 20, 2025" \
        "Password expires					: ${expires:-never}" "Password inactive					: never" \
        "Account expires						: never"
      ;;
    mountpoint)
      # mountpoint [-q] /root/upgrade: is the ISO mounted there?
      if [[ "${!#}" != /root/upgrade && "${!#}" != /root/upgrade/ ]]; then
        printf 'mountpoint: simulated: only /root/upgrade is supported\n' >&2
        exit 1
      fi
      if [[ -f "$UM_SIM_DIR/mounted" ]]; then
        [[ "${1:-}" == -q ]] || printf '/root/upgrade is a mountpoint\n'
      else
        [[ "${1:-}" == -q ]] || printf '/root/upgrade is not a mountpoint\n'
        exit 32
      fi
      ;;
    tdnf)
      if [[ "${1:-}" == --version ]]; then
        printf 'tdnf: %s\n' "$(spec_get tdnf_version)"
      else
        printf 'tdnf: simulated: only --version\n' >&2
        exit 1
      fi
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
