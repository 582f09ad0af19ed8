#!/bin/bash
# upgrade-um.sh of a simulated Usage Meter upgrade ISO (umrunbook simulator). Behaves as field
# reports describe the vendor's script: run as root from the mounted ISO, asks whether a snapshot
# was taken, upgrades in place, and offers to restart the appliance at the end. Where the real
# script logs is not documented, so this one writes no log file.
#
# To 9.x (VCF Usage Meter), in IBM's order: the access token (only from 4.x; from 9.0 it is
# carried over), y to join the provider organization, y that a snapshot was taken, possibly a
# host-name warning (y continues), and y to restart. The wording of each prompt is this
# simulator's own: no source confirms the real script's. A 9.x installation has no
# scripts/status.sh (no source mentions one) unless the spec keeps it.
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

major() {
  local v=${1%%.*}
  [[ "$v" =~ ^[0-9]+$ ]] || v=0
  printf '%s' "$((10#$v))"
}

installed_version() {
  if [[ -f "$UM_SIM_DIR/installed" ]]; then
    cat -- "$UM_SIM_DIR/installed"
  else
    spec_get version
  fi
}

# The questions a 9.x script asks before it changes anything.
vcf_questions() {
  local token="" from
  from=$(installed_version)
  if (($(major "$from") < 9)); then
    printf 'Enter the access token for this VCF Usage Meter instance: '
    read -r token || token=""
    printf '\n'
    if [[ "$token" != UMA* ]]; then
      say "ERROR: that is not an access token of the VCF Business Services console. Nothing was changed."
      exit 1
    fi
    # Only that a token was given, never the token: the simulator keeps no secret either.
    printf 'token typed (%d characters)\n' "${#token}" >>"$UM_SIM_DIR/token.log"
  else
    say "The access token configured in $from is carried over."
  fi
  if ! ask "Do you agree that the VCF Usage Meter appliance becomes part of the Provider Organization?"; then
    say "Upgrade cancelled. Nothing was changed."
    exit 1
  fi
}

main() {
  local vcf=0
  if (($(major "$TARGET_VERSION") >= 9)); then vcf=1; fi
  if [[ -z "${UM_SIM_DIR:-}" ]]; then
    printf 'upgrade-um.sh: simulated upgrade script: runs only inside the simulator\n' >&2
    exit 1
  fi
  if ((EUID != 0)); then
    printf 'upgrade-um.sh: must be run as root\n' >&2
    exit 1
  fi
  if ((vcf)); then
    say "VCF Usage Meter in-place upgrade to $TARGET_VERSION build $BUILD"
    vcf_questions
  else
    say "vCloud Usage Meter in-place upgrade to $TARGET_VERSION build $BUILD"
  fi
  if ! ask "Has a snapshot of this appliance been taken?"; then
    say "Upgrade cancelled: take a snapshot first. Nothing was changed."
    exit 1
  fi
  if ((vcf)) && [[ "$(spec_get hostname_warning)" == True ]]; then
    say "WARNING: the Usage Meter hostname $(hostname) may not be compatible with this version."
    if ! ask "Enter y to continue the upgrade"; then
      say "Upgrade cancelled. Nothing was changed."
      exit 1
    fi
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
  printf '%s-%s\n' "$TARGET_VERSION" "$BUILD" >"$UM_SIM_DIR/installed"
  if ((vcf)) && [[ "$(spec_get vcf_status_script)" != True ]]; then
    rm -f -- "$INSTALL/scripts/status.sh"
  fi
  : >"$UM_SIM_DIR/upgraded"
  say "Upgrade complete."
  if ask "Restart the appliance now to complete the upgrade?"; then
    reboot
  else
    say "Restart the appliance later to complete the upgrade."
  fi
}

main "$@"
