#!/bin/bash
# upgrade-um.sh of a simulated Usage Meter upgrade ISO (umrunbook simulator). Behaves as field
# reports describe the vendor's script: run as root from the mounted ISO, asks whether a snapshot
# was taken, upgrades in place, and offers to restart the appliance at the end. Where the real
# script logs is not documented, so this one writes no log file.
set -euo pipefail

readonly TARGET_VERSION="@TARGET_VERSION@"
readonly BUILD="@BUILD@"
readonly INSTALL=/opt/vmware/cloudusagemetering

spec_get() {
  local key=$1 line
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "${line%%=*}" == "$key" ]]; then
      printf '%s' "${line#*=}"
      return 0
    fi
  done <"$UM_SIM_DIR/spec.env"
}

say() {
  printf '[upgrade-um] %s\n' "$*"
}

ask() {
  local answer=""
  printf '%s [y/N] ' "$1"
  read -r answer || answer=""
  printf '\n'
  [[ "$answer" == y || "$answer" == Y || "$answer" == yes ]]
}

set_version() {
  local props="$INSTALL/platform/conf/env.properties" tmp line
  tmp="$props.tmp"
  : >"$tmp"
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" == version=* ]]; then line="version=$TARGET_VERSION-$BUILD"; fi
    printf '%s\n' "$line" >>"$tmp"
  done <"$props"
  mv -f -- "$tmp" "$props"
}

main() {
  if [[ -z "${UM_SIM_DIR:-}" ]]; then
    printf 'upgrade-um.sh: simulated upgrade script: runs only inside the simulator\n' >&2
    exit 1
  fi
  if ((EUID != 0)); then
    printf 'upgrade-um.sh: must be run as root\n' >&2
    exit 1
  fi
  say "vCloud Usage Meter in-place upgrade to $TARGET_VERSION build $BUILD"
  if ! ask "Has a snapshot of this appliance been taken?"; then
    say "Upgrade cancelled: take a snapshot first. Nothing was changed."
    exit 1
  fi
  say "Stopping the Usage Meter services"
  printf 'stopped\n' >"$UM_SIM_DIR/services"
  say "Updating the operating system packages from the ISO repository"
  case "$(spec_get bundle)" in
    fail)
      say "ERROR: Upgrade fail during JRE update. Please, revert to latest snapshot." >&2
      exit 1
      ;;
    powercut) kill -KILL 0 ;;
  esac
  say "Installing Usage Meter $TARGET_VERSION"
  set_version
  : >"$UM_SIM_DIR/upgraded"
  say "Upgrade complete."
  if ask "Restart the appliance now to complete the upgrade?"; then
    reboot
  else
    say "Restart the appliance later to complete the upgrade."
  fi
}

main "$@"
