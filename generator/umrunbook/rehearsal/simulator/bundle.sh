#!/bin/bash
# ums-system-upgrade.shar of a simulated Usage Meter appliance (umrunbook simulator).
# Behaves like the vendor's bundle as documented: root only, run from
# /opt/vmware/cloudusagemetering, writes var/logs/inplaceupgradeum-<yyyyddmm>-<build>; the new
# installation replaces cloudusagemetering (the old one becomes cloudusagemetering-old) when the
# bundle ends or at the next reboot.
set -euo pipefail

readonly TARGET_VERSION="@TARGET_VERSION@"
readonly BUILD="@BUILD@"
readonly INSTALL=/opt/vmware/cloudusagemetering
readonly BACKUP=/opt/vmware/cloudusagemetering-old

spec_get() {
  local key=$1 line
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "${line%%=*}" == "$key" ]]; then
      printf '%s' "${line#*=}"
      return 0
    fi
  done <"$UM_SIM_DIR/spec.env"
}

LOG=""
step() {
  printf '[ums-upgrade] %s\n' "$*"
  printf '%s INFO %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$LOG"
}

stage_new_installation() {
  local staged=$1 visible=$2
  rm -rf -- "$staged"
  mkdir -p -- "$staged/scripts" "$staged/platform/conf" "$staged/var/logs"
  cp -- "$INSTALL/scripts/status.sh" "$staged/scripts/status.sh"
  chmod 755 -- "$staged/scripts/status.sh"
  {
    printf '# Usage Meter platform settings\n'
    printf 'java.version=11.0.21\n'
    if [[ "$visible" == yes ]]; then printf 'version=%s-%s\n' "$TARGET_VERSION" "$BUILD"; fi
    printf 'um.db.host=localhost\n'
  } >"$staged/platform/conf/env.properties"
}

swap_folders() {
  local staged=$1
  # The vendor's bundle owns cloudusagemetering-old; an earlier one is replaced.
  rm -rf -- "$BACKUP"
  mv -- "$INSTALL" "$BACKUP"
  mv -- "$staged" "$INSTALL"
}

main() {
  if [[ -z "${UM_SIM_DIR:-}" ]]; then
    printf 'ums-system-upgrade: simulated bundle: runs only inside the simulator\n' >&2
    exit 1
  fi
  if ((EUID != 0)); then
    printf 'ums-system-upgrade: must be run as root\n' >&2
    exit 1
  fi
  if [[ "$(pwd -P)" != "$INSTALL" ]]; then
    printf 'ums-system-upgrade: run it from %s (cd %s; bash ums-system-upgrade.shar)\n' "$INSTALL" "$INSTALL" >&2
    exit 1
  fi
  local behaviour swap visible
  behaviour=$(spec_get bundle)
  swap=$(spec_get swap)
  visible=$(spec_get version_visible)
  mkdir -p -- "$INSTALL/var/logs"
  LOG="$INSTALL/var/logs/inplaceupgradeum-$(date -u +%Y%d%m)-$BUILD"
  step "In-place upgrade to vCloud Usage Meter $TARGET_VERSION build $BUILD"
  step "Checking the installation in $INSTALL"
  step "Stopping the Usage Meter services"
  printf 'stopped\n' >"$UM_SIM_DIR/services"
  step "Backing up the configuration"
  case "$behaviour" in
    fail)
      step "Migrating the database"
      printf '%s ERROR Database migration failed: relation "usage_record" already exists\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$LOG"
      printf '[ums-upgrade] ERROR: database migration failed, see %s\n' "$LOG" >&2
      exit 1
      ;;
    powercut)
      step "Migrating the database"
      # A power cut: everything of this run stops at once, nothing records the end.
      kill -KILL 0
      ;;
  esac
  step "Migrating the database"
  step "Installing the new version"
  stage_new_installation "$UM_SIM_DIR/staged" "$visible"
  if [[ "$swap" == bundle-end ]]; then
    swap_folders "$UM_SIM_DIR/staged"
    printf '%s\n' "$(spec_get services_after)" >"$UM_SIM_DIR/services"
    printf '0\n' >"$UM_SIM_DIR/polls"
    step "Upgrade complete: services started"
  else
    : >"$UM_SIM_DIR/pending-swap"
    step "Upgrade staged: reboot the appliance to complete it"
  fi
  : >"$UM_SIM_DIR/upgraded"
}

main "$@"
