# shellcheck shell=bash
# --- VCF Usage Meter 9.x: the ISO that comes alone, what the agent cannot see, the prompts -------
#
# For 9.x the published check is the ISO's SHA-256 (IBM); whether a .mf, .crt and .sign still
# come with the ISO is not known. So the manifest names the ISO only, its SHA-256 is required, and
# the agent checks the companions where the operator uploaded them next to it, and says so where
# not. No source mentions scripts/status.sh for 9.x, nor where 9.x keeps its version: the agent
# checks what it can see and never fails an appliance over what it cannot.

# is_vcf9 VERSION: VERSION is 9 or later (VCF Usage Meter).
is_vcf9() {
  local num
  num=$(version_numeric "$1") || return 1
  (($((10#${num%%.*})) >= 9))
}

# The companions' names, next to the ISO: NAME.iso -> NAME.mf, NAME.crt, NAME.sign.
iso_companion() {
  local stem=${M[iso_file]}
  stem=${stem%.[iI][sS][oO]}
  printf '%s.%s' "$stem" "$1"
}

# preflight_iso_alone: the ISO's SHA-256 against the inventory's, then the companions found.
preflight_iso_alone() {
  local iso=${M[iso_file]} bh
  ISO_SIZE=""
  state_set iso_sha1_result "not checked" iso_signature_result "not checked"
  if [[ ! -f "$BUNDLE_PATH" ]]; then
    check FAIL "files" "$BUNDLE_PATH not found: upload $iso into $UPLOAD_DIR (binary mode) as the runbook shows"
    return 0
  elif [[ ! -r "$BUNDLE_PATH" ]]; then
    check FAIL "files" "$BUNDLE_PATH is not readable by root: check its permissions"
    return 0
  fi
  ISO_SIZE=$(stat -c %s -- "$BUNDLE_PATH")
  check PASS "files" "$iso ($ISO_SIZE bytes) is in $UPLOAD_DIR"
  note "computing the SHA-256 of $BUNDLE_PATH ($ISO_SIZE bytes)..."
  bh=$(file_sha256 "$BUNDLE_PATH")
  state_set bundle_sha256_seen "$bh" bundle_size "$ISO_SIZE"
  if [[ "$bh" == "${M[bundle_sha256]}" ]]; then
    check PASS "iso sha256" "$iso has the expected SHA-256 $bh (the published value, from the inventory)"
  else
    check_integrity_fail "iso sha256" "$iso has SHA-256 $bh, the inventory expects ${M[bundle_sha256]}: the file is damaged or not the right download. Download it again, compare its SHA-256 with the published one, upload it in binary mode; never upgrade with it"
  fi
  preflight_iso_alone_manifest "$bh"
  preflight_iso_alone_signature
}

# The .mf where it was uploaded: every SHA-1 or SHA-256 it gives for the ISO must match.
preflight_iso_alone_manifest() {
  local seen256=$1 iso=${M[iso_file]} mf own
  mf=$(iso_companion mf)
  if [[ ! -f "$UPLOAD_DIR/$mf" ]]; then
    state_set iso_sha1_result "not there"
    check INFO "iso manifest" "no $mf next to the ISO: not checked (whether a 9.x ISO comes with one is not known); the SHA-256 above decides"
    return 0
  fi
  state_set iso_sha1_result fail
  if (($(stat -c %s -- "$UPLOAD_DIR/$mf") > 1048576)); then
    check FAIL "iso manifest" "$mf is larger than 1 MiB: it is not a checksum manifest; remove it or download it again"
    return 0
  fi
  parse_vendor_manifest "$UPLOAD_DIR/$mf" "$iso"
  if [[ -n "$MF_CONFLICT" ]]; then
    check FAIL "iso manifest" "$mf gives $MF_CONFLICT for $iso: it is not a manifest to trust; download it again"
    return 0
  fi
  if [[ -z "$MF_SHA1$MF_SHA256" ]]; then
    check FAIL "iso manifest" "$mf gives no checksum for $iso (it names: ${MF_NAMES:-nothing it could read}): it is not this ISO's manifest; download it again, or remove it"
    return 0
  fi
  state_set iso_sha1_expected "$MF_SHA1"
  if [[ -n "$MF_SHA256" && "$MF_SHA256" != "$seen256" ]]; then
    check FAIL "iso manifest" "$mf gives the SHA-256 $MF_SHA256, $iso has $seen256: never upgrade with it"
    return 0
  fi
  if [[ -n "$MF_SHA1" ]]; then
    own=$(sha1sum <"$BUNDLE_PATH")
    own=${own%% *}
    if [[ "$own" != "$MF_SHA1" ]]; then
      check FAIL "iso manifest" "$iso has SHA-1 $own, $mf gives $MF_SHA1: the ISO is damaged or not the one this manifest describes; never upgrade with it"
      return 0
    fi
  fi
  local given=""
  if [[ -n "$MF_SHA1" ]]; then given="SHA-1 $MF_SHA1"; fi
  if [[ -n "$MF_SHA256" ]]; then given+="${given:+, }SHA-256 $MF_SHA256"; fi
  state_set iso_sha1_result pass iso_sha1_how "read from the manifest by the agent"
  check PASS "iso manifest" "$mf agrees with $iso ($given)"
}

# The .crt and .sign where both were uploaded: the vendor's 4.x signature check.
preflight_iso_alone_signature() {
  local crt sig saved_crt=${M[certificate_file]} saved_sig=${M[signature_file]}
  crt=$(iso_companion crt)
  sig=$(iso_companion sign)
  if [[ ! -f "$UPLOAD_DIR/$crt" && ! -f "$UPLOAD_DIR/$sig" ]]; then
    check INFO "signature" "no $crt and $sig next to the ISO: not checked (whether a 9.x ISO comes with them is not known); the SHA-256 above decides"
    return 0
  fi
  if [[ ! -f "$UPLOAD_DIR/$crt" || ! -f "$UPLOAD_DIR/$sig" ]]; then
    state_set iso_signature_result fail
    check FAIL "signature" "only one of $crt and $sig is in $UPLOAD_DIR: upload both, or neither"
    return 0
  fi
  M[certificate_file]=$crt
  M[signature_file]=$sig
  preflight_iso_signature
  M[certificate_file]=$saved_crt
  M[signature_file]=$saved_sig
}

# status_absent_ok VERSION: on an appliance at 9.x without scripts/status.sh, says so (INFO) and
# returns 0: no source documents status.sh for 9.x, so its absence is no failure.
status_absent_ok() {
  [[ ! -e "$INSTALL_DIR/scripts/status.sh" ]] || return 1
  is_vcf9 "$1" || return 1
  state_set services_verdict "not visible" services_why "no scripts/status.sh"
  check INFO "services" "$INSTALL_DIR/scripts/status.sh is not on this appliance: no source documents it for VCF Usage Meter $1; the health shown in the web interface is the check the sources give (the runbook's next step)"
  return 0
}

# vcf_prompts: the questions of a 9.x upgrade-um.sh, in IBM's order; 1 for a 4.x target.
vcf_prompts() {
  is_vcf9 "${M[target]}" || return 1
  say "Its questions, in the order IBM gives them (their exact wording is not confirmed: read each one):"
  if ! is_vcf9 "${M[inventory_version]}"; then
    say "  - the access token of this instance (UMA...): type it at the prompt; it is never written down here"
  else
    say "  - no access token: from 9.0 the configured one is carried over (KB 441358)"
  fi
  say "  - y: the appliance becomes part of the provider organization"
  say "  - y: a snapshot of the VM was taken"
  say "  - possibly a warning about the appliance's host name: y continues the upgrade"
  say "  - at the end, y: restart the appliance"
  say "After the restart, log in as root and run:"
  return 0
}
