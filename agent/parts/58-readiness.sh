# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
# --- readiness: days before the window, what the night depends on -------------------------------
#
# Read only: it runs no upgrade step and changes nothing on the appliance; it writes its own
# records (readiness-<appliance>-<ticket>/ and readiness-<appliance>-<ticket>.json) in the state
# folder. Each item is ready / not ready / unknown, with why and the raw output it was read from.
# Nothing is assumed: what the agent cannot read is "unknown", never "ready".

declare -a READY_ITEMS=()
READY_HOST_KEYS=""

# ready_item NAME VERDICT WHY RAW: one item, printed with its raw output and kept for the JSON.
ready_item() {
  local name=$1 verdict=$2 why=$3 raw=${4:-} label
  case "$verdict" in
    ready) label="READY" ;;
    "not ready") label="NOT READY" ;;
    *) label="UNKNOWN" ;;
  esac
  printf '%-9s  %-16s %s\n' "$label" "$name" "$why"
  if [[ -n "$raw" ]]; then show_block "$raw"; fi
  journal_append checks.tsv "$(now_iso)" "$COMMAND" "$name" "$verdict" "$why"
  READY_ITEMS+=("{\"item\": $(js "$name"), \"verdict\": $(js "$verdict"), \"why\": $(js "$(one_line "$why")"), \"raw\": $(js "$(printable_text "$raw")")}")
}

# ready_from_check NAME: the verdict of the check just made (PASS ready, FAIL not ready, else
# unknown), with its reason.
ready_from_check() {
  local verdict=unknown
  case "$LAST_CHECK_RESULT" in
    PASS) verdict=ready ;;
    FAIL) verdict="not ready" ;;
  esac
  ready_item "$1" "$verdict" "$LAST_CHECK_REASON" "${2:-}"
}

readiness_host_keys() {
  local f line raw="" n=0
  READY_HOST_KEYS=""
  for f in /etc/ssh/ssh_host_*_key.pub; do
    [[ -f "$f" && -r "$f" ]] || continue
    IFS= read -r line <"$f" || [[ -n "$line" ]] || continue
    line=$(printable_text "$(one_line "$line")")
    raw+="${raw:+$'\n'}$line"
    READY_HOST_KEYS+="${READY_HOST_KEYS:+, }$(js "$line")"
    n=$((n + 1))
  done
  if ((n > 0)); then
    ready_item "host keys" ready "$n public host key(s) in /etc/ssh: paste one line (the ed25519 one where there is one) into the inventory's ssh_host_key" "$raw"
  else
    ready_item "host keys" unknown "no readable /etc/ssh/ssh_host_*_key.pub: read the key on the console and put it in the inventory's ssh_host_key"
  fi
}

readiness_root_password() {
  local raw="" rc=0 line expires="" when now
  if ! have_cmd chage; then
    ready_item "root password" unknown "chage is not on this system: check root's password expiry by hand"
    return 0
  fi
  raw=$(chage -l root 2>&1) || rc=$?
  if ((rc != 0)); then
    ready_item "root password" unknown "chage -l root exited with $rc" "$raw"
    return 0
  fi
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" =~ ^[[:space:]]*Password[[:space:]]+expires[[:space:]]*:[[:space:]]*(.*)$ ]]; then
      expires=${BASH_REMATCH[1]}
      expires=${expires%%[[:space:]]}
    fi
  done <<<"$raw"
  now=$(now_epoch)
  if [[ -z "$expires" ]]; then
    ready_item "root password" unknown "chage -l root shows no \"Password expires\" line" "$raw"
  elif [[ "$expires" == never ]]; then
    ready_item "root password" ready "root's password never expires (chage -l root)" "$raw"
  elif [[ "$(lower "$expires")" == *"must be changed"* ]]; then
    ready_item "root password" "not ready" "root's password has expired ($expires): change it on the console (passwd) before the window, or the night starts with a locked root login" "$raw"
  elif when=$(date -u -d "$expires" +%s 2>/dev/null) && [[ "$when" =~ ^[0-9]+$ ]]; then
    if ((when <= now)); then
      ready_item "root password" "not ready" "root's password expired on $expires: change it on the console (passwd) before the window" "$raw"
    else
      ready_item "root password" ready "root's password expires on $expires: check that this is after the window" "$raw"
    fi
  else
    ready_item "root password" unknown "cannot read the date \"$expires\" from chage -l root: read it yourself" "$raw"
  fi
}

# Free space with the preflight's own check; the bundle's size where it is already uploaded.
readiness_free_space() {
  local size=0 fit margin dir=$INSTALL_DIR extra=""
  if [[ -f "$BUNDLE_PATH" ]]; then
    size=$(stat -c %s -- "$BUNDLE_PATH")
  else
    extra=" (${M[bundle_file]} is not uploaded yet: the margin's minimum was used)"
  fi
  fit=$(free_space_fit_kib "$size")
  margin=$(free_space_margin_kib "$size")
  FREE_SPACE_LOW=0
  free_space_check "$dir" "$fit" "$margin" free_kb >/dev/null
  if [[ "$LAST_CHECK_RESULT" == WARN ]]; then LAST_CHECK_RESULT=FAIL; fi
  LAST_CHECK_REASON+=$extra
  ready_from_check "free space" "$(df -Pk -- "$dir" 2>&1 || true)"
  if [[ "$UPLOAD_DIR" != "$INSTALL_DIR" ]]; then
    dir=$UPLOAD_DIR
    while [[ ! -d "$dir" && "$dir" == /?* ]]; do dir=$(dirname -- "$dir"); done
    free_space_check "$dir" "$fit" "$margin" free_upload_kb >/dev/null
    if [[ "$LAST_CHECK_RESULT" == WARN ]]; then LAST_CHECK_RESULT=FAIL; fi
    if [[ "$dir" != "$UPLOAD_DIR" ]]; then LAST_CHECK_REASON+=" ($UPLOAD_DIR does not exist yet: its parent $dir was measured)"; fi
    ready_from_check "upload space" "$(df -Pk -- "$dir" 2>&1 || true)"
  fi
}

readiness_version() {
  preflight_version >/dev/null
  ready_from_check "version" "${VERSION_SOURCE:+$VERSION_SOURCE: }${VERSION_FOUND:-$VERSION_DETAIL}"
}

# tdnf, where the target's procedure checks it: the field report's versions decide, no other.
readiness_tdnf() {
  local raw="" rc=0 v=""
  [[ "${M[tdnf_check]}" == yes ]] || return 0
  if ! have_cmd tdnf; then
    ready_item "tdnf" unknown "tdnf is not on this system: the runbook's tdnf step cannot be checked"
    return 0
  fi
  raw=$(tdnf --version 2>&1) || rc=$?
  if [[ "$raw" =~ ([0-9]+\.[0-9]+\.[0-9]+) ]]; then v=${BASH_REMATCH[1]}; fi
  if ((rc != 0)) || [[ -z "$v" ]]; then
    ready_item "tdnf" unknown "tdnf --version shows no version (exit $rc)" "$raw"
  elif [[ "$(version_cmp "$v" 3.1.8)" != -1 ]]; then
    ready_item "tdnf" ready "tdnf $v: 3.1.8 or later, as on the appliance whose upgrade went through (field report)" "$raw"
  elif [[ "$(version_cmp "$v" 1.2.3)" == 0 ]]; then
    ready_item "tdnf" "not ready" "tdnf $v is the version whose upgrade failed with --skipdigest (field report): see the runbook's tdnf step before the window" "$raw"
  else
    ready_item "tdnf" unknown "tdnf $v: neither the version that failed (1.2.3) nor one known to work (3.1.8 or later)" "$raw"
  fi
}

readiness_services() {
  if status_absent_ok "${M[inventory_version]}"; then
    ready_item "services" unknown "no source names a service check for this version: look at the web interface"
    return 0
  fi
  run_status_script "$INSTALL_DIR"
  if ((STATUS_RC == 127)); then
    ready_item "services" unknown "$INSTALL_DIR/scripts/status.sh not found" "$STATUS_RAW"
    return 0
  fi
  judge_status
  if ((STATUS_HEALTHY)); then
    ready_item "services" ready "$STATUS_WHY" "$STATUS_RAW"
  else
    ready_item "services" "not ready" "not healthy ($STATUS_WHY): find out why before the window" "$STATUS_RAW"
  fi
}

# A proxy value shown without its user and password: scheme://user:pass@host -> scheme://***@host
proxy_masked() {
  local s=$1
  local re='(//|=|["'"'"'[:space:]])([^/@[:space:]*"'"'"']+)@'
  while [[ "$s" =~ $re ]]; do
    s=${s/"${BASH_REMATCH[0]}"/"${BASH_REMATCH[1]}***@"}
  done
  printf '%s' "$s"
}

readiness_proxy() {
  local file=/etc/sysconfig/proxy line raw="" proxies=""
  if [[ ! -e "$file" ]]; then
    if [[ -n "${M[proxy]}" ]]; then
      ready_item "proxy" unknown "no $file on the appliance; the runbook's proxy step writes ${M[proxy]} into it"
    else
      ready_item "proxy" ready "no $file: no operating-system proxy set, and the inventory names none"
    fi
    return 0
  fi
  if [[ ! -r "$file" || ! -f "$file" ]]; then
    ready_item "proxy" unknown "$file is not a readable file"
    return 0
  fi
  while IFS= read -r line || [[ -n "$line" ]]; do
    line=$(one_line "$line")
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    line=$(proxy_masked "$line")
    raw+="${raw:+$'\n'}$line"
    if [[ "$line" =~ ^[[:space:]]*(HTTP_PROXY|HTTPS_PROXY|http_proxy|https_proxy)=[\"\']?[^\"\'[:space:]] ]]; then
      proxies+="${proxies:+, }${BASH_REMATCH[1]}"
    fi
  done <"$file"
  if [[ -n "${M[proxy]}" ]]; then
    ready_item "proxy" ready "$file is there (the runbook's proxy step sets ${M[proxy]} in it); now set: ${proxies:-none}" "$raw"
  elif [[ -n "$proxies" ]]; then
    ready_item "proxy" unknown "$file sets $proxies, and the inventory names no proxy: confirm the appliance reaches what it needs through it" "$raw"
  else
    ready_item "proxy" ready "$file sets no proxy, and the inventory names none" "$raw"
  fi
}

READINESS_JSON=""
build_readiness_json() {
  local verdict=$1 why=$2 blank digest items="" x
  for x in ${READY_ITEMS[@]+"${READY_ITEMS[@]}"}; do
    items+="${items:+,}"$'\n    '"$x"
  done
  blank="{
  \"schema\": $(js "$UM_READINESS_SCHEMA"),
  \"digest\": \"\",
  \"written_at\": $(js "$(now_iso)"),
  \"appliance\": $(js "${M[appliance]}"),
  \"host\": $(js "${M[host]}"),
  \"ticket\": $(js "${M[ticket]}"),
  \"target\": $(js "${M[target]}"),
  \"inventory_version\": $(js "${M[inventory_version]}"),
  \"agent\": {\"generator\": $(js "${M[generator]}"), \"manifest_version\": $(js "${M[manifest_version]}"), \"self_sha256\": $(js "$UM_SELF_SHA256"), \"file_sha256\": $(js "$UM_FILE_SHA256"), \"path\": $(js "$UM_SELF")},
  \"verdict\": $(js "$verdict"),
  \"why\": $(js "$why"),
  \"host_keys\": [$READY_HOST_KEYS],
  \"items\": [$items${items:+$'\n  '}]
}
"
  digest=$(printf '%s' "$blank" | sha256sum)
  digest=${digest%% *}
  READINESS_JSON=${blank/\"digest\": \"\"/\"digest\": \"sha256:$digest\"}
}

cmd_readiness() {
  local tag verdict=ready why="" x name v path
  local -a not_ready=() unknown=()
  tag="$(safe_name "${M[appliance]}")-$(safe_name "${M[ticket]}")"
  # Its own records, beside the upgrade's but never in them: the upgrade's state is not touched.
  RUN_DIR="$STATE_DIR/readiness-$tag"
  STATE_FILE="$RUN_DIR/state"
  path="$STATE_DIR/readiness-$tag.json"
  acquire_lock
  state_load
  json_init
  say "== readiness: ${M[appliance]} (${M[host]}) ${M[inventory_version]} -> ${M[target]}, change ${M[ticket]}: read only, nothing is changed"
  preflight_host_name >/dev/null
  ready_from_check "host name"
  readiness_host_keys
  readiness_root_password
  readiness_free_space
  readiness_version
  readiness_tdnf
  readiness_services
  readiness_proxy
  for x in "${READY_ITEMS[@]}"; do
    [[ "$x" =~ ^\{\"item\":\ \"([^\"]*)\",\ \"verdict\":\ \"([^\"]*)\" ]] || continue
    name=${BASH_REMATCH[1]}
    v=${BASH_REMATCH[2]}
    case "$v" in
      "not ready") not_ready+=("$name") ;;
      unknown) unknown+=("$name") ;;
    esac
  done
  if ((${#not_ready[@]} > 0)); then
    verdict="not ready"
    why="not ready: $(printf '%s, ' "${not_ready[@]}")"
    why=${why%, }
  elif ((${#unknown[@]} > 0)); then
    verdict=unknown
    why="unknown: $(printf '%s, ' "${unknown[@]}")"
    why=${why%, }
  else
    why="every item is ready"
  fi
  build_readiness_json "$verdict" "$why"
  printf '\n'
  if ((DRY_RUN)); then
    say "DRY-RUN: would write $path"
  else
    mkdir -p -- "$STATE_DIR"
    write_file_atomic "$path" "$READINESS_JSON"
    say "Readiness written: $path (fetch it with the evidence fetch, then: umrunbook ingest)."
  fi
  say "READINESS: ${verdict^^} ($why). Nothing on the appliance was changed."
  if [[ "$verdict" == "not ready" ]]; then exit 1; fi
  exit 0
}
