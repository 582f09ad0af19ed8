# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
# --- versions -----------------------------------------------------------------------------------
# Versions compare by their numeric parts, missing parts counting as zero (4.2 = 4.2.0 = 4.2.0.0);
# a build number after '-' is shown, never compared.

version_numeric() {
  local v=${1#[vV]}
  v=${v%%-*}
  v=${v%%+*}
  v=${v%%[[:space:]]*}
  if [[ "$v" =~ ^[0-9]+(\.[0-9]+)*$ ]]; then
    printf '%s' "$v"
    return 0
  fi
  return 1
}

# version_cmp A B: prints -1, 0 or 1
version_cmp() {
  local -a a b
  local i n x y
  IFS=. read -r -a a <<<"$1"
  IFS=. read -r -a b <<<"$2"
  n=${#a[@]}
  if ((${#b[@]} > n)); then n=${#b[@]}; fi
  for ((i = 0; i < n; i++)); do
    x=$((10#${a[i]:-0}))
    y=$((10#${b[i]:-0}))
    if ((x < y)); then
      printf '%s' -1
      return 0
    elif ((x > y)); then
      printf '%s' 1
      return 0
    fi
  done
  printf '%s' 0
}

# version_matches VERSION PATTERN: 4.1.x (first parts equal), 4.x, >=4.3 (same major), 4.2 (equal)
version_matches() {
  local v=$1 p=$2 prefix k
  local -a pv vv
  case "$p" in
    '>='*)
      prefix=$(version_numeric "${p#>=}") || return 1
      [[ "$(version_cmp "$v" "$prefix")" != -1 ]] || return 1
      [[ $((10#${v%%.*})) -eq $((10#${prefix%%.*})) ]]
      ;;
    *.x | *.X)
      prefix=$(version_numeric "${p%.[xX]}") || return 1
      IFS=. read -r -a pv <<<"$prefix"
      IFS=. read -r -a vv <<<"$v"
      for ((k = 0; k < ${#pv[@]}; k++)); do
        [[ $((10#${vv[k]:-0})) -eq $((10#${pv[k]})) ]] || return 1
      done
      return 0
      ;;
    *)
      prefix=$(version_numeric "$p") || return 1
      [[ "$(version_cmp "$v" "$prefix")" == 0 ]]
      ;;
  esac
}

version_supported() {
  local v=$1 p
  local -a pats=()
  read -r -a pats <<<"${M[supported_sources]}"
  for p in ${pats[@]+"${pats[@]}"}; do
    if version_matches "$v" "$p"; then
      return 0
    fi
  done
  return 1
}

# Reads the installed version from the candidate files; sets VERSION_FOUND, VERSION_SOURCE and
# VERSION_DETAIL. The appliance's layout is not documented: accept a value only when unambiguous.
VERSION_FOUND=""
VERSION_SOURCE=""
VERSION_DETAIL=""
read_installed_version() {
  local base=$1 rel file line key val num
  local -a files=() found=() where=()
  local re_kv='^[[:space:]]*([A-Za-z0-9_.-]*[Vv][Ee][Rr][Ss][Ii][Oo][Nn][A-Za-z0-9_.-]*)[[:space:]]*[=:][[:space:]]*["'"'"']?[vV]?([0-9]+(\.[0-9]+)+(-[0-9A-Za-z._]+)?)'
  local re_plain='^[[:space:]]*[vV]?([0-9]+(\.[0-9]+)+(-[0-9A-Za-z._]+)?)[[:space:]]*$'
  local preferred='^(version|um[._-]?version|usagemeter[._-]?version|usage[._-]?meter[._-]?version|product[._-]?version|app[._-]?version|appliance[._-]?version|build[._-]?version)$'
  VERSION_FOUND=""
  VERSION_SOURCE=""
  VERSION_DETAIL=""
  read -r -a files <<<"${M[version_files]}"
  if ((${#files[@]} == 0)); then
    VERSION_DETAIL="the catalogue lists no file to read the version from"
    return 1
  fi
  for rel in "${files[@]}"; do
    if [[ "$rel" == /* ]]; then file=$rel; else file="$base/$rel"; fi
    if [[ ! -r "$file" || ! -f "$file" ]]; then
      VERSION_DETAIL+="${VERSION_DETAIL:+; }$file: not found"
      continue
    fi
    local -a pref=() pref_where=() other=()
    while IFS= read -r line || [[ -n "$line" ]]; do
      line=${line%$'\r'}
      [[ "$line" =~ ^[[:space:]]*[#!] ]] && continue
      if [[ "$line" =~ $re_kv ]]; then
        key=${BASH_REMATCH[1]}
        val=${BASH_REMATCH[2]}
        local lkey=${key,,}
        if [[ "$lkey" =~ $preferred ]]; then
          pref+=("$val")
          pref_where+=("$file ($key)")
        else
          other+=("$key=$val")
        fi
      elif [[ "$line" =~ $re_plain ]]; then
        pref+=("${BASH_REMATCH[1]}")
        pref_where+=("$file")
      fi
    done <"$file"
    if ((${#pref[@]} > 0)); then
      found=("${pref[@]}")
      where=("${pref_where[@]}")
    elif ((${#other[@]} > 0)); then
      # Other keys (java.version, db.version...) are some component's version: never taken.
      VERSION_DETAIL+="${VERSION_DETAIL:+; }$file: no product version key, only ${other[*]} (not taken)"
      continue
    else
      VERSION_DETAIL+="${VERSION_DETAIL:+; }$file: no version in it"
      continue
    fi
    num=$(version_numeric "${found[0]}")
    for val in "${found[@]}"; do
      if [[ "$(version_cmp "$(version_numeric "$val")" "$num")" != 0 ]]; then
        VERSION_DETAIL+="${VERSION_DETAIL:+; }$file: several different versions (${found[*]}), none taken"
        found=()
        break
      fi
    done
    if ((${#found[@]} > 0)); then
      VERSION_FOUND=${found[0]}
      VERSION_SOURCE=${where[0]}
      return 0
    fi
  done
  return 1
}

