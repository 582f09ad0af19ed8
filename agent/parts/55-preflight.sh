# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
# --- preflight -----------------------------------------------------------------------------------

# Free space. No source gives the upgrade's need: the hard limit is the bundle's own size (it
# cannot fit in less); free_space_factor x the bundle, at least free_space_min_mb, is umrunbook's
# margin, a guess with no vendor source: below it a WARN with the numbers, which upgrade goes past
# only with --accept-low-space (recorded in the evidence).
free_space_fit_kib() {
  local size=${1:-0}
  printf '%s' "$(((size + 1023) / 1024))"
}

free_space_margin_kib() {
  local size=${1:-0} factor=${M[free_space_factor]} min_mb=${M[free_space_min_mb]} need need_min
  need_min=$((min_mb * 1024))
  need=$(((size * factor + 1023) / 1024))
  if ((need < need_min)); then need=$need_min; fi
  printf '%s' "$need"
}

FREE_SPACE_LOW=0
# free_space_check DIR FIT_KIB MARGIN_KIB STATE_KEY: one check line for the filesystem of DIR.
free_space_check() {
  local dir=$1 fit=$2 margin=$3 key=$4 dfline avail
  local rule="umrunbook's margin, no vendor source: ${M[free_space_factor]} x the bundle, at least ${M[free_space_min_mb]} MiB"
  if [[ -d "$dir" ]] && dfline=$(df -Pk -- "$dir" 2>/dev/null | tail -n 1); then
    read -r _ _ _ avail _ <<<"$dfline"
    if [[ "$avail" =~ ^[0-9]+$ ]]; then
      state_set "$key" "$avail" free_needed_kb "$fit" free_margin_kb "$margin"
      if ((avail < fit)); then
        check FAIL "free space" "$((avail / 1024)) MiB ($avail KiB) free on the filesystem of $dir, less than the bundle itself ($fit KiB): it cannot fit. Free space there (old logs, files left from earlier upgrades) and run preflight again"
      elif ((avail < margin)); then
        FREE_SPACE_LOW=1
        check WARN "free space" "$((avail / 1024)) MiB free on the filesystem of $dir: the bundle ($((fit / 1024)) MiB) fits, but it is below $((margin / 1024)) MiB ($rule). Free space there if you can; upgrade goes on only with --accept-low-space (recorded)"
      else
        check PASS "free space" "$((avail / 1024)) MiB free on the filesystem of $dir; the bundle is $((fit / 1024)) MiB; $((margin / 1024)) MiB is $rule"
      fi
    else
      check FAIL "free space" "could not read the free space of $dir from df ($dfline)"
    fi
  else
    check FAIL "free space" "could not read the free space of $dir (df failed or the folder is missing)"
  fi
}

SNAPSHOT_OK=0
PREFLIGHT_HOSTNAME_SEEN=""
PREFLIGHT_SIZE=""
preflight_checks() {
  local ph
  ph=$(phase)
  if [[ "$ph" != new && "$ph" != preflight-passed && "$ph" != preflight-failed ]]; then
    note "note: this appliance is past preflight (phase: $ph); the checks describe it as it is now."
  fi

  if ((EUID == 0)); then
    check PASS "root" "running as root"
  else
    check FAIL "root" "running as uid $EUID: log in as root on the console (or sudo -i) and run it again"
  fi

  check PASS "bash" "bash $BASH_VERSION (4.2 or later needed)"
  check PASS "agent" "self-check passed (self_sha256 $UM_SELF_SHA256); whole file sha256 $UM_FILE_SHA256: compare it with the runbook"

  preflight_host_name
  preflight_location
  preflight_bundle
  preflight_version
  preflight_free_space "$PREFLIGHT_SIZE"
  preflight_services
  preflight_ssh
  preflight_old_backup
  preflight_snapshot
  state_set hostname_seen "$PREFLIGHT_HOSTNAME_SEEN"
}

# The system's names (hostname, hostname -f, uname -n) against the manifest's host and appliance.
preflight_host_name() {
  local names=() n seen="" want_host want_short want_app out
  PREFLIGHT_HOSTNAME_SEEN=""
  want_host=$(lower "${M[host]}")
  want_app=$(lower "${M[appliance]}")
  want_short=$want_app
  if ! is_ip "$want_host"; then want_short=${want_host%%.*}; fi
  if have_cmd hostname; then
    out=$(hostname 2>/dev/null || true)
    if [[ -n "$out" ]]; then names+=("$out"); fi
    if have_cmd timeout; then
      out=$(timeout 5 hostname -f 2>/dev/null || true)
    else
      out=$(hostname -f 2>/dev/null || true)
    fi
    if [[ -n "$out" ]]; then names+=("$out"); fi
  fi
  out=$(uname -n 2>/dev/null || true)
  if [[ -n "$out" ]]; then names+=("$out"); fi
  local ok=0 nm
  for n in ${names[@]+"${names[@]}"}; do
    nm=$(lower "$(one_line "$n")")
    seen+="${seen:+, }$nm"
    if [[ "$nm" == "$want_host" || "$nm" == "$want_app" || "$nm" == "$want_short" || "${nm%%.*}" == "$want_short" ]]; then
      ok=1
    fi
  done
  PREFLIGHT_HOSTNAME_SEEN=$seen
  if ((ok)); then
    check PASS "host name" "this is ${M[appliance]} (${M[host]}): the system says $seen"
  else
    check FAIL "host name" "this system is '${seen:-unknown}', the agent was made for ${M[appliance]} (${M[host]}): use the agent from this appliance's own folder of the change package"
  fi
}

preflight_location() {
  local companions=""
  if ((IS_ISO)) && [[ -n "${M[manifest_file]}" ]]; then companions=" and ${M[manifest_file]}, ${M[certificate_file]}, ${M[signature_file]}"; fi
  if [[ "$(self_dir)" == "$(real_dir "$UPLOAD_DIR")" ]]; then
    check PASS "location" "the agent sits in $UPLOAD_DIR"
  else
    check FAIL "location" "the agent runs from $(self_dir), not $UPLOAD_DIR: copy it there, next to ${M[bundle_file]}$companions, cd $UPLOAD_DIR and run it from there"
  fi
}

# The bundle (ISO: its four files) and its SHA-256; sets PREFLIGHT_SIZE.
preflight_bundle() {
  local size
  PREFLIGHT_SIZE=""
  if ((IS_ISO)); then
    preflight_iso_files
    PREFLIGHT_SIZE=$ISO_SIZE
  elif [[ ! -f "$BUNDLE_PATH" ]]; then
    check FAIL "bundle" "$BUNDLE_PATH not found: upload ${M[bundle_file]} into $UPLOAD_DIR (binary mode) as the runbook shows"
  elif [[ ! -r "$BUNDLE_PATH" ]]; then
    check FAIL "bundle" "$BUNDLE_PATH is not readable by root: check its permissions"
  else
    size=$(stat -c %s -- "$BUNDLE_PATH")
    PREFLIGHT_SIZE=$size
    note "computing the SHA-256 of $BUNDLE_PATH ($size bytes)..."
    local bh
    bh=$(file_sha256 "$BUNDLE_PATH")
    state_set bundle_sha256_seen "$bh" bundle_size "$size"
    if [[ "$bh" == "${M[bundle_sha256]}" ]]; then
      check PASS "bundle sha256" "${M[bundle_file]} ($size bytes) has the expected SHA-256 $bh"
    else
      check_integrity_fail "bundle sha256" "${M[bundle_file]} has SHA-256 $bh, the manifest expects ${M[bundle_sha256]}: the file is damaged or not the right download. Download it again from the vendor portal, compare its SHA-256 with the download page, upload it in binary mode; the bundle is never run like this"
    fi
  fi
}

preflight_version() {
  local num
  if read_installed_version "$INSTALL_DIR"; then
    num=$(version_numeric "$VERSION_FOUND")
    state_set version_before "$VERSION_FOUND" version_before_source "$VERSION_SOURCE" version_before_visible yes
    if ! version_supported "$num"; then
      if [[ "$(version_cmp "$num" "$(version_numeric "${M[target]}" || printf 0)")" == 0 ]]; then
        check FAIL "version" "installed $VERSION_FOUND (from $VERSION_SOURCE) is already the target ${M[target]}: there is nothing to upgrade; check the inventory"
      else
        check FAIL "version" "installed $VERSION_FOUND (from $VERSION_SOURCE) is not a supported source for ${M[target]} (supported: ${M[supported_sources]}): this in-place upgrade does not apply; see the runbook's path"
      fi
    elif [[ "$(version_cmp "$num" "$(version_numeric "${M[inventory_version]}" || printf x)")" != 0 ]]; then
      check FAIL "version" "installed $VERSION_FOUND (from $VERSION_SOURCE), the inventory says ${M[inventory_version]}: correct the inventory and render the package again"
    else
      check PASS "version" "installed $VERSION_FOUND (from $VERSION_SOURCE) matches the inventory (${M[inventory_version]}) and is a supported source for ${M[target]} (${M[supported_sources]})"
    fi
  else
    state_set version_before "" version_before_source "" version_before_visible no
    check WARN "version" "the appliance does not show its version here (${VERSION_DETAIL}): confirm in the web interface (About) that it is ${M[inventory_version]}; upgrade will ask for it (with --yes it goes on and records this WARN)"
  fi
}

# preflight_free_space BUNDLE_SIZE: where install_dir is, and where upload_dir is if elsewhere.
preflight_free_space() {
  local size=$1 fit margin
  fit=$(free_space_fit_kib "$size")
  margin=$(free_space_margin_kib "$size")
  FREE_SPACE_LOW=0
  free_space_check "$INSTALL_DIR" "$fit" "$margin" free_kb
  if [[ "$UPLOAD_DIR" != "$INSTALL_DIR" ]]; then
    if [[ -d "$UPLOAD_DIR" && -d "$INSTALL_DIR" ]] && [[ "$(stat -c %d -- "$UPLOAD_DIR" 2>/dev/null)" == "$(stat -c %d -- "$INSTALL_DIR" 2>/dev/null || printf x)" ]]; then
      state_set free_upload_kb "$(state_get free_kb)"
      note "($UPLOAD_DIR is on the same filesystem as $INSTALL_DIR: the free space above covers both)"
    else
      free_space_check "$UPLOAD_DIR" "$fit" "$margin" free_upload_kb
    fi
  fi
  state_set free_low "$( ((FREE_SPACE_LOW)) && printf yes || printf no)"
}

preflight_services() {
  if status_absent_ok "${M[inventory_version]}"; then return 0; fi # 9.x: 52-vcf.sh
  if ((DRY_RUN)); then
    say "DRY-RUN: would run: cd $INSTALL_DIR && ./scripts/status.sh (services must say Running)"
  else
    run_status_script "$INSTALL_DIR"
    judge_status
    save_status_output
    if ((STATUS_HEALTHY)); then
      check PASS "services" "$STATUS_WHY"
    else
      check FAIL "services" "not healthy before the upgrade ($STATUS_WHY): bring the services up (or find out why) before upgrading"
    fi
    show_block "$STATUS_RAW"
  fi
}

preflight_old_backup() {
  if [[ -d "$BACKUP_DIR" ]] && ((IS_ISO)); then
    state_set backup_before "$(dir_identity "$BACKUP_DIR")"
    check INFO "old backup" "$BACKUP_DIR exists (an earlier upgrade's backup, $(stat -c %y -- "$BACKUP_DIR" 2>/dev/null | cut -c1-19)); the ISO procedure is not known to use it; the agent never touches it"
  elif [[ -d "$BACKUP_DIR" ]]; then
    state_set backup_before "$(dir_identity "$BACKUP_DIR")"
    check WARN "old backup" "$BACKUP_DIR exists already (an earlier upgrade's backup, $(stat -c %y -- "$BACKUP_DIR" 2>/dev/null | cut -c1-19)): the agent never deletes or modifies it; decide with the change owner whether it is still needed before the upgrade makes a new one"
  else
    state_set backup_before absent
    check PASS "old backup" "$BACKUP_DIR does not exist yet"
  fi
}

preflight_snapshot() {
  local answer=""
  SNAPSHOT_OK=0
  if ((OPT_SNAPSHOT_SET)) && [[ -n "$OPT_SNAPSHOT" ]]; then
    state_set snapshot "$OPT_SNAPSHOT" snapshot_confirmed_by "--snapshot"
    SNAPSHOT_OK=1
    check PASS "snapshot" "confirmed with --snapshot: \"$OPT_SNAPSHOT\" (recorded; it is the backout)"
  elif [[ -n "$(state_get snapshot)" && "$(state_get snapshot_confirmed_by)" != "--yes"* ]]; then
    SNAPSHOT_OK=1
    check PASS "snapshot" "confirmed earlier ($(state_get snapshot_confirmed_by), preflight at $(state_get preflight_at)): \"$(state_get snapshot)\""
  elif ((ASSUME_YES)); then
    if [[ -n "${M[snapshot]}" ]]; then
      state_set snapshot "${M[snapshot]}" snapshot_confirmed_by "--yes"
      SNAPSHOT_OK=1
      check PASS "snapshot" "taken as confirmed with --yes: \"${M[snapshot]}\" (from the manifest; recorded)"
    else
      state_set snapshot "" snapshot_confirmed_by "--yes (no name)"
      SNAPSHOT_OK=1
      check WARN "snapshot" "no snapshot named (--yes given): the backout needs one; name it next time with --snapshot NAME"
    fi
  elif ((DRY_RUN)); then
    say "DRY-RUN: would ask for the snapshot's name (or take --snapshot NAME)"
  elif [[ -t 0 ]]; then
    say "A snapshot (or backup) of this appliance must exist before the upgrade: it is the backout."
    if [[ -n "${M[snapshot]}" ]]; then
      read -r -p "Type the snapshot's name (Enter = \"${M[snapshot]}\"), or 'no' if there is none: " answer || answer="no"
      [[ -n "$answer" ]] || answer=${M[snapshot]}
    else
      read -r -p "Type the snapshot's name, or 'no' if there is none: " answer || answer="no"
    fi
    answer=$(one_line "$answer")
    if [[ -z "$answer" || "$(lower "$answer")" == no ]]; then
      state_set snapshot "" snapshot_confirmed_by "operator: none"
      check FAIL "snapshot" "no snapshot: take one (vCenter) before the upgrade, then run again with --snapshot NAME"
    else
      state_set snapshot "$answer" snapshot_confirmed_by "operator (typed)"
      SNAPSHOT_OK=1
      check PASS "snapshot" "confirmed by the operator: \"$answer\" (recorded; it is the backout)"
    fi
  else
    check WARN "snapshot" "not confirmed (no terminal to ask on): give --snapshot NAME${M[snapshot]:+ (the runbook names \"${M[snapshot]}\")}"
  fi
}

preflight_summary() {
  local result=pass
  if ((CHECK_WARNS > 0)); then result=warn; fi
  if ((CHECK_FAILS > 0)); then result=fail; fi
  state_set preflight_at "$(now_iso)" preflight_result "$result" preflight_fails "$CHECK_FAILS" preflight_warns "$CHECK_WARNS"
  printf '\n'
  if ((CHECK_FAILS > 0)); then
    say "PREFLIGHT FAILED: $CHECK_FAILS check(s) failed, $CHECK_WARNS warning(s). Nothing was changed. Fix what the FAIL lines say, then run preflight again."
  elif ((CHECK_WARNS > 0)); then
    say "PREFLIGHT PASSED with $CHECK_WARNS warning(s): read the WARN lines. Nothing was changed."
  else
    say "PREFLIGHT PASSED. Nothing was changed."
  fi
}

preflight_exit_code() {
  if ((CHECK_INTEGRITY > 0)); then
    printf 4
  elif ((CHECK_FAILS > 0)); then
    printf 1
  else
    printf 0
  fi
}

cmd_preflight() {
  acquire_lock
  state_load
  say "== preflight: ${M[appliance]} (${M[host]}) ${M[inventory_version]} -> ${M[target]}, change ${M[ticket]}${DRY_RUN:+}"
  if ((DRY_RUN)); then say "DRY-RUN: checks that only read are done; nothing is written, nothing is run."; fi
  preflight_checks
  preflight_summary
  local rc
  rc=$(preflight_exit_code)
  if ((rc == 0)); then
    say "Next: $(agent_cmd "$UPLOAD_DIR/$UM_NAME" upgrade)"
  fi
  exit "$rc"
}

