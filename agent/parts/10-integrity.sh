# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
# --- integrity: runs before anything else ------------------------------------------------------
# Bash reads a script as it goes, so this runs even when the end of the file is missing.

declare -A M=()
UM_SELF_SHA256=""
UM_FILE_SHA256=""

integrity_fail() {
  printf 'um-upgrade-agent: INTEGRITY: %s\n' "$@" >&2
  exit 4
}

verify_self() {
  local -a lines=()
  local line key value n i expected actual
  local self_lines=0 have_keys=""
  if ! command -v sha256sum >/dev/null 2>&1; then
    integrity_fail "sha256sum is not found, so this agent cannot check itself or the bundle." \
      "It refuses to go on unchecked: run it on the Usage Meter appliance (coreutils provides sha256sum)."
  fi
  mapfile lines <"$UM_SELF"
  n=${#lines[@]}
  if ((n == 0)) || [[ "${lines[n - 1]}" != "$UM_END_MARKER"$'\n' ]]; then
    integrity_fail "$UM_SELF is truncated: its last line is not '$UM_END_MARKER' (the transfer stopped early)." \
      "Upload it again (binary mode), check it with sha256sum -c as the runbook shows, then run it again."
  fi
  for ((i = 0; i < n; i++)); do
    line=${lines[i]}
    [[ "$line" == '#@ '* ]] || continue
    line=${line%$'\n'}
    line=${line#'#@ '}
    if [[ "$line" != *=* ]]; then
      integrity_fail "manifest line '#@ $line' has no '=': the manifest was edited." \
        "Use the agent file from the change package as generated; render it again if the inventory changed."
    fi
    key=${line%%=*}
    value=${line#*=}
    if [[ -n "${M[$key]+x}" ]]; then
      integrity_fail "manifest key '$key' appears twice: the manifest was edited." \
        "Use the agent file from the change package as generated."
    fi
    M[$key]=$value
    have_keys+="$key "
    if [[ "$key" == self_sha256 ]]; then
      self_lines=$((self_lines + 1))
    fi
  done
  if [[ -z "$have_keys" ]]; then
    integrity_fail "$UM_SELF holds no manifest: this is the agent's source, not an agent generated for an appliance." \
      "Generate the change package (umrunbook render) and use DIR/<appliance>/agent/$UM_NAME."
  fi
  expected="${UM_MANIFEST_KEYS[*]} "
  if [[ "$have_keys" != "$expected" ]]; then
    integrity_fail "the manifest's keys are not the expected ones, in order (found: ${have_keys% }; expected: ${expected% })." \
      "The manifest was edited or comes from another generator version: use the agent file from the change package."
  fi
  if ((self_lines != 1)); then
    integrity_fail "the manifest holds $self_lines self_sha256 lines instead of one: the file was edited."
  fi
  expected=${M[self_sha256]}
  actual=$(
    for ((i = 0; i < n; i++)); do
      [[ "${lines[i]}" == '#@ self_sha256='* ]] || printf '%s' "${lines[i]}"
    done | sha256sum
  )
  actual=${actual%% *}
  if [[ "$actual" != "$expected" ]]; then
    integrity_fail "$UM_SELF was changed after it was generated: its SHA-256 (without the self_sha256 line) is $actual, the manifest says $expected." \
      "The manifest or the script was edited, or the file was damaged in transfer. Upload the generated file again in binary mode, check it with sha256sum -c as the runbook shows, and never edit it: to change a value, render the package again."
  fi
  UM_SELF_SHA256=$actual
  actual=$(sha256sum <"$UM_SELF")
  UM_FILE_SHA256=${actual%% *}
  if [[ "${M[manifest_version]}" != "$UM_MANIFEST_VERSION" ]]; then
    integrity_fail "manifest_version ${M[manifest_version]} is not understood by this agent (it reads version $UM_MANIFEST_VERSION)."
  fi
}

if ((UM_SOURCED == 0)); then verify_self; fi

