# shellcheck shell=bash
# --- evidence ------------------------------------------------------------------------------------

declare -a JSON_CTRL_CHARS=()
declare -a JSON_CTRL_ESC=()
json_init() {
  local i c
  for ((i = 1; i < 32; i++)); do
    case "$i" in 8 | 9 | 10 | 12 | 13) continue ;; esac
    printf -v c '%b' "\\$(printf '%03o' "$i")"
    JSON_CTRL_CHARS+=("$c")
    JSON_CTRL_ESC+=("$(printf '\\u%04x' "$i")")
  done
}

# JSON string literal of $1
js() {
  local s=$1 i
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=${s//$'\b'/\\b}
  s=${s//$'\f'/\\f}
  for ((i = 0; i < ${#JSON_CTRL_CHARS[@]}; i++)); do
    s=${s//"${JSON_CTRL_CHARS[i]}"/${JSON_CTRL_ESC[i]}}
  done
  printf '"%s"' "$s"
}

# JSON number when $1 is a whole number, else null
jn() {
  if [[ "$1" =~ ^-?[0-9]+$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}

# JSON array of strings from the words of $1
jwords() {
  local -a w=()
  local out="" x
  read -r -a w <<<"$1"
  for x in ${w[@]+"${w[@]}"}; do
    out+="${out:+, }$(js "$x")"
  done
  printf '[%s]' "$out"
}

# JSON true/false for yes/no, else null
jyn() {
  case "$1" in
    yes) printf 'true' ;;
    no) printf 'false' ;;
    *) printf 'null' ;;
  esac
}

jstate() {
  js "$(state_get "$1")"
}

json_checks() {
  local file="$RUN_DIR/checks.tsv" at cmd name result reason out=""
  if [[ -f "$file" ]]; then
    while IFS=$'\t' read -r at cmd name result reason || [[ -n "$at" ]]; do
      out+="${out:+,}"$'\n    '"{\"at\": $(js "$at"), \"command\": $(js "$cmd"), \"check\": $(js "$name"), \"result\": $(js "$result"), \"reason\": $(js "$reason")}"
    done <"$file"
  fi
  printf '[%s%s]' "$out" "${out:+$'\n  '}"
}

json_commands() {
  local file="$RUN_DIR/commands.tsv" at cmd desc argv rc dur out=""
  if [[ -f "$file" ]]; then
    while IFS=$'\t' read -r at cmd desc argv rc dur || [[ -n "$at" ]]; do
      out+="${out:+,}"$'\n    '"{\"at\": $(js "$at"), \"agent_command\": $(js "$cmd"), \"what\": $(js "$desc"), \"command\": $(js "$argv"), \"exit_code\": $(jn "$rc"), \"duration_s\": $(jn "$dur")}"
    done <"$file"
  fi
  printf '[%s%s]' "$out" "${out:+$'\n  '}"
}

output_tail() {
  printable_text "$(tail_lines "$1" "$2")"
}

EVIDENCE_JSON=""
build_evidence_json() {
  local ph bundle_tail status_tail log_errs blank digest
  ph=$(phase)
  bundle_tail=$(output_tail 40 "$RUN_DIR/bundle-output.log")
  status_tail=$(output_tail 60 "$RUN_DIR/status-output.txt")
  log_errs=$(output_tail 20 "$RUN_DIR/upgrade-log-errors.txt")
  blank="{
  \"schema\": $(js "$UM_EVIDENCE_SCHEMA"),
  \"digest\": \"\",
  \"written_at\": $(js "$(now_iso)"),
  \"appliance\": $(js "${M[appliance]}"),
  \"host\": $(js "${M[host]}"),
  \"ticket\": $(js "${M[ticket]}"),
  \"target\": $(js "${M[target]}"),
  \"delivery\": $(js "${M[delivery]}"),
  \"inventory_version\": $(js "${M[inventory_version]}"),
  \"phase\": $(js "$ph"),
  \"result\": $(js "$(evidence_result "$ph")"),
  \"agent\": {\"generator\": $(js "${M[generator]}"), \"manifest_version\": $(js "${M[manifest_version]}"), \"self_sha256\": $(js "$UM_SELF_SHA256"), \"file_sha256\": $(js "$UM_FILE_SHA256"), \"path\": $(js "$UM_SELF")},
  \"hostname_seen\": $(jstate hostname_seen),
  \"snapshot\": {\"name\": $(jstate snapshot), \"confirmed_by\": $(jstate snapshot_confirmed_by), \"manifest\": $(js "${M[snapshot]}")},
  \"preflight\": {\"at\": $(jstate preflight_at), \"result\": $(jstate preflight_result), \"fails\": $(jn "$(state_get preflight_fails)"), \"warns\": $(jn "$(state_get preflight_warns)")},
  \"version_before\": {\"value\": $(jstate version_before), \"source\": $(jstate version_before_source), \"visible\": $(jyn "$(state_get version_before_visible)"), \"confirmed_by\": $(jstate version_confirmed_by)},
  \"version_after\": {\"value\": $(jstate version_after), \"source\": $(jstate version_after_source), \"visible\": $(jyn "$(state_get version_after_visible)")},
  \"free_space\": {\"free_kib\": $(jn "$(state_get free_kb)"), \"needed_kib\": $(jn "$(state_get free_needed_kb)"), \"upload_dir\": $(js "$UPLOAD_DIR"), \"upload_free_kib\": $(jn "$(state_get free_upload_kb)"), \"margin_kib\": $(jn "$(state_get free_margin_kb)"), \"margin_source\": \"umrunbook (no vendor source)\", \"below_margin\": $(jyn "$(state_get free_low)"), \"accepted\": $(jstate free_low_accepted)},
  \"bundle\": {\"file\": $(js "${M[bundle_file]}"), \"sha256_expected\": $(js "${M[bundle_sha256]}"), \"sha256_seen\": $(jstate bundle_sha256_seen), \"size_bytes\": $(jn "$(state_get bundle_size)"), \"command\": $(jstate bundle_command), \"confirmed_by\": $(jstate upgrade_confirmed_by), \"started_at\": $(jstate bundle_started_at), \"ended_at\": $(jstate bundle_ended_at), \"interrupted_at\": $(jstate bundle_interrupted_at), \"exit_code\": $(jn "$(state_get bundle_exit)"), \"duration_s\": $(jn "$(state_get bundle_duration_s)"), \"log\": $(jstate bundle_log), \"output_tail\": $(js "$bundle_tail"), \"handed_over_at\": $(jstate handed_over_at)},
  \"iso_checks\": {\"files\": $(jwords "${M[iso_file]} ${M[manifest_file]} ${M[certificate_file]} ${M[signature_file]}"), \"sha1_expected\": $(jstate iso_sha1_expected), \"sha1\": $(jstate iso_sha1_result), \"sha1_how\": $(jstate iso_sha1_how), \"openssl\": $(jstate iso_openssl), \"certificate\": $(jstate iso_certificate_result), \"certificate_subject\": $(jstate iso_certificate), \"chain\": $(jstate iso_chain_result), \"signature\": $(jstate iso_signature_result), \"cdrom_sha1\": $(jstate cdrom_sha1), \"cdrom\": $(jstate cdrom_result), \"cdrom_at\": $(jstate cdrom_at)},
  \"reboot\": {\"required\": $(js "${M[reboot_required]}"), \"boot_id_before\": $(jstate boot_id_before), \"boot_id_after\": $(jstate boot_id_after), \"rebooted\": $(jstate rebooted)},
  \"backup_dir\": {\"path\": $(js "$BACKUP_DIR"), \"before_preflight\": $(jstate backup_before), \"before_upgrade\": $(jstate backup_before_upgrade)},
  \"services\": {\"verdict\": $(jstate services_verdict), \"why\": $(jstate services_why), \"polls\": $(jn "$(state_get services_polls)"), \"waited_s\": $(jn "$(state_get services_wait_s)"), \"status_output_tail\": $(js "$status_tail")},
  \"upgrade_log\": {\"files\": $(jwords "$(state_get upgrade_logs)"), \"error_line_count\": $(jn "$(state_get upgrade_log_error_count)"), \"error_lines\": $(js "$log_errs")},
  \"verify\": {\"at\": $(jstate verify_at), \"result\": $(jstate verify_result)},
  \"ssh_stopped\": $(jstate ssh_stopped),
  \"ssh\": {\"found_at\": $(jstate ssh_found_at), \"found_enabled\": $(jstate ssh_found_enabled), \"found_running\": $(jstate ssh_found_running), \"before_enabled\": $(jstate ssh_before_enabled), \"before_running\": $(jstate ssh_before_running), \"finished_at\": $(jstate finished_at), \"after_enabled\": $(jstate ssh_after_enabled), \"after_running\": $(jstate ssh_after_running)},
  \"ssh\": {\"found_at\": $(jstate ssh_found_at), \"found_enabled\": $(jstate ssh_found_enabled), \"found_running\": $(jstate ssh_found_running), \"before_enabled\": $(jstate ssh_before_enabled), \"before_running\": $(jstate ssh_before_running), \"finished_at\": $(jstate finished_at), \"after_enabled\": $(jstate ssh_after_enabled), \"after_running\": $(jstate ssh_after_running)},
  \"metered_servers\": $(jwords "${M[metered_servers]}"),
  \"last_error\": $(jstate last_error),
  \"checks\": $(json_checks),
  \"commands\": $(json_commands)
}
"
  digest=$(printf '%s' "$blank" | sha256sum)
  digest=${digest%% *}
  EVIDENCE_JSON=${blank/\"digest\": \"\"/\"digest\": \"sha256:$digest\"}
}

evidence_result() {
  case "$1" in
    verified) printf 'upgraded' ;;
    verify-failed | bundle-failed | interrupted) printf 'failed' ;;
    *) printf 'in progress' ;;
  esac
}

# Markdown: inventory text escaped so that it stays text in any renderer.
md() {
  local s
  s=$(one_line "$1")
  s=${s//&/&amp;}
  s=${s//</&lt;}
  s=${s//>/&gt;}
  s=${s//\\/\\\\}
  s=${s//\`/\\\`}
  s=${s//|/\\|}
  s=${s//\*/\\*}
  s=${s//\[/\\[}
  s=${s//\]/\\]}
  printf '%s' "$s"
}

md_block() {
  local line
  printf '~~~~text\n'
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" == '~~~~'* ]]; then line=" $line"; fi
    printf '%s\n' "$line"
  done <<<"$1"
  printf '~~~~\n'
}

build_evidence_md() {
  local ph at cmd name result reason desc argv rc dur
  ph=$(phase)
  printf '# Upgrade evidence: %s, change %s\n\n' "$(md "${M[appliance]}")" "$(md "${M[ticket]}")"
  printf '| | |\n|---|---|\n'
  printf '| Appliance | %s (%s) |\n' "$(md "${M[appliance]}")" "$(md "${M[host]}")"
  printf '| Change | %s |\n' "$(md "${M[ticket]}")"
  printf '| Target | %s |\n' "$(md "${M[target]}")"
  printf '| Result | %s (phase: %s) |\n' "$(md "$(evidence_result "$ph")")" "$(md "$ph")"
  printf '| Version before | %s (%s) |\n' "$(md "$(state_get version_before)")" "$(md "$(state_get version_before_source)${S[version_confirmed_by]:+, confirmed by ${S[version_confirmed_by]}}")"
  printf '| Version after | %s (%s) |\n' "$(md "$(state_get version_after)")" "$(md "$(state_get version_after_source)")"
  printf '| Free space | %s KiB free, the bundle %s KiB, umrunbook'"'"'s margin %s KiB (no vendor source)%s |\n' "$(md "$(state_get free_kb)")" "$(md "$(state_get free_needed_kb)")" "$(md "$(state_get free_margin_kb)")" "$(md "${S[free_low_accepted]:+; below it, accepted with ${S[free_low_accepted]}}")"
  printf '| Snapshot | %s (%s) |\n' "$(md "$(state_get snapshot)")" "$(md "$(state_get snapshot_confirmed_by)")"
  printf '| Bundle | %s, sha256 %s |\n' "$(md "${M[bundle_file]}")" "$(md "$(state_get bundle_sha256_seen)")"
  if ((IS_ISO)); then
    printf '| ISO checks | SHA-1 %s (%s); certificate %s, chain %s; signature %s (openssl %s) |\n' "$(md "$(state_get iso_sha1_result)")" "$(md "$(state_get iso_sha1_expected)")" "$(md "$(state_get iso_certificate_result)")" "$(md "$(state_get iso_chain_result)")" "$(md "$(state_get iso_signature_result)")" "$(md "$(state_get iso_openssl)")"
    printf '| Upgrade started | %s; the vendor script run by the operator: %s |\n' "$(md "$(state_get handed_over_at)")" "$(md "$(state_get bundle_command)")"
  else
    printf '| Bundle run | started %s, ended %s, exit %s, %s s |\n' "$(md "$(state_get bundle_started_at)")" "$(md "$(state_get bundle_ended_at)")" "$(md "$(state_get bundle_exit)")" "$(md "$(state_get bundle_duration_s)")"
  fi
  printf '| Reboot | required: %s; boot id %s -> %s |\n' "$(md "${M[reboot_required]}")" "$(md "$(state_get boot_id_before)")" "$(md "$(state_get boot_id_after)")"
  printf '| Services | %s after %s poll(s), %s s |\n' "$(md "$(state_get services_verdict)")" "$(md "$(state_get services_polls)")" "$(md "$(state_get services_wait_s)")"
  printf '| Upgrade log | %s (%s error line(s)) |\n' "$(md "$(state_get upgrade_logs)")" "$(md "$(state_get upgrade_log_error_count)")"
  printf '| SSH | before the change: enabled %s, running %s; at preflight: enabled %s, running %s; after finish: %s |\n' "$(md "$(state_get ssh_before_enabled)")" "$(md "$(state_get ssh_before_running)")" "$(md "$(state_get ssh_found_enabled)")" "$(md "$(state_get ssh_found_running)")" "$(md "${S[finished_at]:+enabled ${S[ssh_after_enabled]}, running ${S[ssh_after_running]} at ${S[finished_at]}}")"
  printf '| Agent | %s, file sha256 %s |\n' "$(md "${M[generator]}")" "$(md "$UM_FILE_SHA256")"
  printf '\n## Checks\n\n| At | Command | Check | Result | Reason |\n|---|---|---|---|---|\n'
  if [[ -f "$RUN_DIR/checks.tsv" ]]; then
    while IFS=$'\t' read -r at cmd name result reason || [[ -n "$at" ]]; do
      printf '| %s | %s | %s | %s | %s |\n' "$(md "$at")" "$(md "$cmd")" "$(md "$name")" "$(md "$result")" "$(md "$reason")"
    done <"$RUN_DIR/checks.tsv"
  fi
  printf '\n## Commands\n\n| At | What | Command | Exit | Seconds |\n|---|---|---|---|---|\n'
  if [[ -f "$RUN_DIR/commands.tsv" ]]; then
    while IFS=$'\t' read -r at cmd desc argv rc dur || [[ -n "$at" ]]; do
      printf '| %s | %s | %s | %s | %s |\n' "$(md "$at")" "$(md "$desc")" "$(md "$argv")" "$(md "$rc")" "$(md "$dur")"
    done <"$RUN_DIR/commands.tsv"
  fi
  if ((!IS_ISO)); then
    printf '\n## Bundle output (last lines)\n\n'
    md_block "$(output_tail 40 "$RUN_DIR/bundle-output.log")"
  fi
  printf '\n## Service status (last output)\n\n'
  md_block "$(output_tail 60 "$RUN_DIR/status-output.txt")"
  if [[ -s "$RUN_DIR/upgrade-log-errors.txt" ]]; then
    printf '\n## Upgrade log: error lines\n\n'
    md_block "$(output_tail 20 "$RUN_DIR/upgrade-log-errors.txt")"
  fi
  local -a servers=()
  read -r -a servers <<<"${M[metered_servers]}"
  printf '\n## After the upgrade\n\nAccept again, in the web interface, the certificates of the metered servers:\n\n'
  local s
  for s in ${servers[@]+"${servers[@]}"}; do
    printf -- '- %s\n' "$(md "$s")"
  done
  ((${#servers[@]} > 0)) || printf -- '- (none named in the inventory: every server listed in the web interface)\n'
}

write_file_atomic() {
  local path=$1 content=$2 tmp
  tmp="$path.tmp.$$"
  printf '%s' "$content" >"$tmp"
  chmod 600 -- "$tmp"
  sync
  mv -f -T -- "$tmp" "$path"
}

write_evidence() {
  local quiet=${1:-} mdtext
  json_init
  build_evidence_json
  mdtext=$(build_evidence_md)
  if ((DRY_RUN)); then
    say "DRY-RUN: would write $EVIDENCE_BASE.json and $EVIDENCE_BASE.md"
    return 0
  fi
  mkdir -p -- "$STATE_DIR"
  write_file_atomic "$EVIDENCE_BASE.json" "$EVIDENCE_JSON"
  write_file_atomic "$EVIDENCE_BASE.md" "$mdtext"$'\n'
  if [[ "$quiet" != quiet ]]; then
    printf '%s\n' "$mdtext"
    say ""
    say "Evidence written: $EVIDENCE_BASE.json and $EVIDENCE_BASE.md (copy both to the change ticket ${M[ticket]})."
  fi
}

cmd_report() {
  acquire_lock
  state_load
  write_evidence print
  return 0
}

