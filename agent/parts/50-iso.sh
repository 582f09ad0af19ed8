# shellcheck shell=bash
# --- the ISO bundle: the vendor's manifest (SHA-1), certificate and signature ------------------

# The .mf format is not documented beyond "sha1sum -c": read coreutils lines ("<hex>  NAME",
# "<hex> *NAME") and tagged lines ("SHA1(NAME)= <hex>", "SHA1 (NAME) = <hex>", SHA256 too).
MF_SHA1=""
MF_SHA256=""
MF_CONFLICT=""
MF_NAMES=""
parse_vendor_manifest() {
  local mf=$1 name=$2 line algo fname hex
  local re_tag='^[[:space:]]*([A-Za-z]+-?[0-9]+)[[:space:]]*\((.+)\)[[:space:]]*=[[:space:]]*([0-9A-Fa-f]+)[[:space:]]*$'
  local re_gnu='^[[:space:]]*\\?([0-9A-Fa-f]+)[[:space:]]+\*?(.+[^[:space:]])[[:space:]]*$'
  MF_SHA1=""
  MF_SHA256=""
  MF_CONFLICT=""
  MF_NAMES=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    line=${line%$'\r'}
    if [[ "$line" =~ $re_tag ]]; then
      algo=${BASH_REMATCH[1]^^}
      algo=${algo//-/}
      fname=${BASH_REMATCH[2]}
      hex=${BASH_REMATCH[3],,}
    elif [[ "$line" =~ $re_gnu ]]; then
      hex=${BASH_REMATCH[1],,}
      fname=${BASH_REMATCH[2]}
      case "${#hex}" in
        40) algo=SHA1 ;;
        64) algo=SHA256 ;;
        *) continue ;;
      esac
    else
      continue
    fi
    fname=${fname#./}
    MF_NAMES+="${MF_NAMES:+, }$(one_line "$fname")"
    [[ "$fname" == "$name" ]] || continue
    case "$algo:${#hex}" in
      SHA1:40)
        if [[ -n "$MF_SHA1" && "$MF_SHA1" != "$hex" ]]; then MF_CONFLICT="two different SHA-1 values"; fi
        MF_SHA1=$hex
        ;;
      SHA256:64)
        if [[ -n "$MF_SHA256" && "$MF_SHA256" != "$hex" ]]; then MF_CONFLICT="two different SHA-256 values"; fi
        MF_SHA256=$hex
        ;;
    esac
  done <"$mf"
}

ISO_SIZE=""
preflight_iso_files() {
  local k f missing=0 iso=${M[iso_file]} mf=${M[manifest_file]} bh
  if [[ -z "$mf" ]]; then
    preflight_iso_alone # an ISO that comes alone (9.x): 52-vcf.sh
    return 0
  fi
  ISO_SIZE=""
  for k in iso_file manifest_file certificate_file signature_file; do
    f="$UPLOAD_DIR/${M[$k]}"
    if [[ ! -f "$f" ]]; then
      check FAIL "files" "$f not found: upload ${M[$k]} into $UPLOAD_DIR (binary mode) as the runbook shows"
      missing=1
    elif [[ ! -r "$f" ]]; then
      check FAIL "files" "$f is not readable by root: check its permissions"
      missing=1
    fi
  done
  if ((missing)); then
    state_set iso_sha1_result "not checked" iso_signature_result "not checked"
    return 0
  fi
  ISO_SIZE=$(stat -c %s -- "$BUNDLE_PATH")
  check PASS "files" "$iso ($ISO_SIZE bytes), $mf, ${M[certificate_file]} and ${M[signature_file]} are in $UPLOAD_DIR"

  note "computing the SHA-256 of $BUNDLE_PATH ($ISO_SIZE bytes)..."
  bh=$(file_sha256 "$BUNDLE_PATH")
  state_set bundle_sha256_seen "$bh" bundle_size "$ISO_SIZE"
  if [[ -z "${M[bundle_sha256]}" ]]; then
    check INFO "iso sha256" "$iso has SHA-256 $bh; the inventory gives none to compare (optional for ISO bundles): the vendor's SHA-1 manifest and signature below decide"
  elif [[ "$bh" == "${M[bundle_sha256]}" ]]; then
    check PASS "iso sha256" "$iso has the expected SHA-256 $bh (from the inventory)"
  else
    check_integrity_fail "iso sha256" "$iso has SHA-256 $bh, the inventory expects ${M[bundle_sha256]}: the file is damaged or not the right download. Download it again, compare its SHA-256 with the download page, upload it in binary mode; never upgrade with it"
  fi

  preflight_iso_sha1 "$bh"
  preflight_iso_signature
}

preflight_iso_sha1() {
  local sha256_seen=$1 iso=${M[iso_file]} mf=${M[manifest_file]} out rc=0 status="" line own start
  local mf_path="$UPLOAD_DIR/$mf"
  state_set iso_sha1_expected "" iso_sha1_result fail
  if (($(stat -c %s -- "$mf_path") > 1048576)); then
    check FAIL "iso sha1" "$mf is larger than 1 MiB: it is not the vendor's checksum manifest; download the four files of build ${M[iso_file]} again"
    return 0
  fi
  parse_vendor_manifest "$mf_path" "$iso"
  if [[ -n "$MF_CONFLICT" ]]; then
    check FAIL "iso sha1" "$mf gives $MF_CONFLICT for $iso: it is not a manifest to trust; download it again"
    return 0
  fi
  if [[ -z "$MF_SHA1" ]]; then
    check FAIL "iso sha1" "$mf gives no SHA-1 for $iso (it names: ${MF_NAMES:-nothing it could read}): it is not this ISO's manifest; download the four files of the same build again"
    show_block "$(printable_text "$(head -c 2000 -- "$mf_path")")"
    return 0
  fi
  state_set iso_sha1_expected "$MF_SHA1"
  if ! have_cmd sha1sum; then
    check FAIL "iso sha1" "sha1sum is not found on this appliance (coreutils): the vendor's check cannot run here"
    return 0
  fi
  note "sha1sum -c $mf (as the vendor gives it)..."
  start=$(now_epoch)
  out=$(cd -- "$UPLOAD_DIR" && sha1sum -c -- "$mf" 2>&1) || rc=$?
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "the vendor's SHA-1 check" "cd $(quote_argv "$UPLOAD_DIR") && sha1sum -c $(quote_argv "$mf")" "$rc" "$(($(now_epoch) - start))"
  while IFS= read -r line; do
    if [[ "$line" == "$iso: "* ]]; then status=${line#"$iso: "}; fi
  done <<<"$out"
  if [[ "$status" == OK && "$rc" == 0 ]]; then
    state_set iso_sha1_result pass iso_sha1_how "sha1sum -c"
    check PASS "iso sha1" "sha1sum -c $mf: $iso: OK (SHA-1 $MF_SHA1)"
  elif [[ "$status" == OK ]]; then
    check FAIL "iso sha1" "sha1sum -c $mf says $iso: OK but exits with $rc: another line of the manifest failed (output below); download the four files of the same build again"
  elif [[ -n "$status" ]]; then
    check FAIL "iso sha1" "sha1sum -c $mf: $iso: $status: the ISO is damaged or not the one this manifest describes. Download the ISO and its manifest again, upload them in binary mode; never upgrade with it"
  else
    # sha1sum could not read the format: compare the SHA-1 read from the manifest ourselves.
    note "sha1sum -c cannot read this manifest's format; the agent compares the SHA-1 it read from it..."
    own=$(sha1sum <"$BUNDLE_PATH")
    own=${own%% *}
    if [[ "$own" == "$MF_SHA1" ]]; then
      state_set iso_sha1_result pass iso_sha1_how "read from the manifest by the agent"
      check PASS "iso sha1" "$iso has SHA-1 $own, the one $mf gives (sha1sum -c could not read the manifest's format, exit $rc; the agent read it)"
    else
      check FAIL "iso sha1" "$iso has SHA-1 $own, $mf gives $MF_SHA1: the ISO is damaged or not the one this manifest describes. Download the ISO and its manifest again; never upgrade with it"
    fi
  fi
  show_block "$(printable_text "$out")"
  if [[ -n "$MF_SHA256" ]]; then
    if [[ "$MF_SHA256" == "$sha256_seen" ]]; then
      check PASS "iso sha256 (mf)" "$mf also gives the SHA-256 $MF_SHA256: it matches"
    else
      state_set iso_sha1_result fail
      check FAIL "iso sha256 (mf)" "$mf gives the SHA-256 $MF_SHA256, $iso has $sha256_seen: never upgrade with it"
    fi
  fi
}

preflight_iso_signature() {
  local crt="$UPLOAD_DIR/${M[certificate_file]}" sig="$UPLOAD_DIR/${M[signature_file]}" out rc=0 key start
  local name_crt=${M[certificate_file]} name_key=${M[certificate_file]%.crt}.key
  if ! have_cmd openssl; then
    state_set iso_openssl absent iso_certificate_result "not checked" iso_chain_result "not checked" iso_signature_result "not checked"
    check WARN "signature" "openssl is not on this appliance: the certificate $name_crt and the ISO's signature ${M[signature_file]} were NOT checked here. Check them on a workstation with openssl before going on (commands below); the last one must print Verified OK"
    show_block "openssl x509 -in $name_crt -noout -text
openssl verify $name_crt
openssl x509 -pubkey -noout -in $name_crt > $name_key
openssl dgst -sha1 -verify $name_key -signature ${M[signature_file]} ${M[iso_file]}"
    return 0
  fi
  state_set iso_openssl present iso_certificate_result fail iso_chain_result "not checked" iso_signature_result fail
  out=$(openssl x509 -in "$crt" -noout -subject -issuer -enddate 2>&1) || rc=$?
  if ((rc != 0)); then
    check FAIL "certificate" "$name_crt cannot be read as a certificate (openssl x509, exit $rc): download it again; the signature cannot be checked without it"
    show_block "$(printable_text "$out")"
    return 0
  fi
  state_set iso_certificate_result pass iso_certificate "$(printable_text "$(one_line "$out")")"
  check PASS "certificate" "$name_crt: $(printable_text "$(one_line "$out")")"

  rc=0
  out=$(openssl verify "$crt" 2>&1) || rc=$?
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "the vendor's certificate check" "openssl verify $(quote_argv "$crt")" "$rc" 0
  if ((rc == 0)); then
    state_set iso_chain_result pass
    check PASS "certificate chain" "openssl verify $name_crt: $(printable_text "$(one_line "$out")")"
  else
    state_set iso_chain_result warn
    check WARN "certificate chain" "openssl verify $name_crt did not confirm the issuer chain (exit $rc, output below): an appliance without the issuer's CA certificates says so; check the certificate's issuer on a workstation. The signature check decides"
    show_block "$(printable_text "$out")"
  fi

  key=$(mktemp "${TMPDIR:-/tmp}/um-upgrade-agent-key.XXXXXX")
  rc=0
  openssl x509 -in "$crt" -noout -pubkey >"$key" 2>/dev/null || rc=$?
  if ((rc != 0)); then
    rm -f -- "$key"
    check FAIL "signature" "the public key cannot be read from $name_crt (exit $rc): download the certificate again"
    return 0
  fi
  note "openssl dgst -sha1 -verify (the certificate's public key) -signature ${M[signature_file]} ${M[iso_file]}..."
  start=$(now_epoch)
  rc=0
  out=$(openssl dgst -sha1 -verify "$key" -signature "$sig" "$BUNDLE_PATH" 2>&1) || rc=$?
  rm -f -- "$key"
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "the vendor's signature check" "openssl dgst -sha1 -verify $(quote_argv "$name_key") -signature $(quote_argv "$sig") $(quote_argv "$BUNDLE_PATH")" "$rc" "$(($(now_epoch) - start))"
  out=$(printable_text "$out")
  if ((rc == 0)) && [[ "$out" == *"Verified OK"* ]]; then
    state_set iso_signature_result pass
    check PASS "signature" "openssl dgst -sha1 -verify: Verified OK: ${M[iso_file]} is signed with the key of $name_crt"
  else
    check FAIL "signature" "openssl dgst -sha1 -verify did not say Verified OK (exit $rc: $(one_line "$out")): the ISO is not the one the certificate's owner signed, or the signature belongs to another build. Never upgrade with it: download the four files again"
  fi
}


# check-cdrom: where the ISO is attached to the VM's CD/DVD drive instead of mounted from the
# uploaded, verified file, the disc in the drive is checked against the vendor's manifest before
# it is mounted (on a route the drive may still hold the previous hop's ISO).
readonly CDROM_DEVICE=/dev/cdrom
cmd_check_cdrom() {
  local ph expected seen rc=0 start
  ((IS_ISO)) || usage_error "check-cdrom is for an ISO bundle; this hop's bundle is ${M[bundle_file]}."
  acquire_lock
  state_load
  ph=$(phase)
  if [[ "$ph" != handed-over ]]; then
    die 3 "WRONG PHASE: check-cdrom comes after upgrade recorded the start, before the disc is mounted (phase: $ph)." \
      "Next: $(next_command "$ph")"
  fi
  expected=$(state_get iso_sha1_expected)
  [[ -n "$expected" ]] || die 1 "FAIL: preflight recorded no SHA-1 from ${M[manifest_file]}: run preflight again."
  if [[ ! -r "$CDROM_DEVICE" ]] || [[ "$(head -c 1 -- "$CDROM_DEVICE" 2>/dev/null | wc -c)" != 1 ]]; then
    die 1 "FAIL: no disc can be read in $CDROM_DEVICE: attach ${M[iso_file]} to the VM's CD/DVD drive (Connected), then run check-cdrom again."
  fi
  note "sha1sum $CDROM_DEVICE (the whole disc)..."
  start=$(now_epoch)
  seen=$(sha1sum <"$CDROM_DEVICE") || rc=$?
  seen=${seen%% *}
  journal_append commands.tsv "$(now_iso)" "$COMMAND" "the disc in the CD/DVD drive against the manifest" "sha1sum $CDROM_DEVICE" "$rc" "$(($(now_epoch) - start))"
  if ((rc == 0)) && [[ "$seen" == "$expected" ]]; then
    state_set cdrom_sha1 "$seen" cdrom_result pass cdrom_at "$(now_iso)"
    check PASS "cd drive" "$CDROM_DEVICE has SHA-1 $seen, the one ${M[manifest_file]} gives for ${M[iso_file]}: it is the verified ISO"
    write_evidence quiet
    say "Next, on the console: mount it and run the vendor's script, as the runbook says."
    return 0
  fi
  state_set cdrom_sha1 "$seen" cdrom_result fail cdrom_at "$(now_iso)"
  check_integrity_fail "cd drive" "$CDROM_DEVICE has SHA-1 ${seen:-unreadable (exit $rc)}, ${M[manifest_file]} gives $expected for ${M[iso_file]}: the drive holds another ISO (a previous hop's?) or a damaged copy. Do not mount it: attach ${M[iso_file]} from the datastore, then run check-cdrom again"
  write_evidence quiet
  exit 4
}
