#!/bin/sh
# fetch-evidence.sh: copy the upgrade agent's evidence and the upgrade logs from a Usage Meter
# appliance to this workstation with OpenSSH (sftp), for the appliance and the change named in
# the values below. Run it before a snapshot is reverted (the revert deletes them), and after a
# good night, for the change ticket.
#
#   sh fetch-evidence.sh [FOLDER]
#
# FOLDER must be new or empty; without it, the appliance's evidence folder in the change package
# (evidence_relpath below, relative to this script). First, on the appliance's console as root,
# run the agent's report command (bash <agent_after> report): it rewrites the evidence from the
# agent's records. In this order, stopping at the first problem:
#   1. The sftp batch file must be the one generated with this script (its SHA-256), and the
#      appliance must present the host key in known_hosts next to this script, the inventory's
#      key and no other (StrictHostKeyChecking=yes), as for upload.sh.
#   2. sftp copies into FOLDER (SFTP copies bytes as they are: binary): the agent's folder
#      state_dir as a whole (its evidence, state, checks, commands and the bundle's output),
#      and the inplaceupgradeum-* logs of install_logs and backup_logs where there are any.
#   3. Checked after the copy: every file copied has the size sftp lists for it on the
#      appliance, and each evidence JSON has the digest it records (the agent writes into the
#      file the SHA-256 of its text with the digest field empty). The evidence JSON of this
#      upgrade (evidence_json) must be among them.
# Log in as root with the appliance's password (sftp asks for it) or with a key, as for
# upload.sh. Nothing on the appliance is changed.
#
# The program is the same for every appliance; only the values differ. Regenerate the package
# from the inventory instead of editing them.

set -eu

prog=fetch-evidence.sh

# --- values (written by umrunbook) ---
appliance=''
host=''
port=''
user=''
ticket=''
protocol=''
state_dir=''
state_name=''
install_logs=''
install_logs_name=''
backup_logs=''
backup_logs_name=''
evidence_json=''
agent_after=''
evidence_relpath=''
host_key_type=''
host_key_fingerprint=''
host_key_algorithms=''
host_key_file=''
batch_sha256=''
# --- end of values ---

usage() {
  cat <<EOF
usage: sh fetch-evidence.sh [FOLDER]

Copies the agent's evidence ($state_dir) and the inplaceupgradeum-* logs
($install_logs, $backup_logs) of $appliance ($user@$host port $port)
into FOLDER, which must be new or empty (default: $evidence_relpath next to this script),
then checks every file's size and the evidence's own digest. First, on the appliance as root:
  bash $agent_after report
EOF
}

# Without the appliance's host key, a first connection would have to trust whatever key
# answers: refuse, and say how to add it.
refuse_without_host_key() {
  cat >&2 <<EOF
fetch-evidence.sh: REFUSED: the inventory has no SSH host key for $appliance ($host, port $port).
Without it the first connection would have to trust whatever key answers. Nothing was copied.

To add the key:
  1. On the appliance's console, logged in as root, print each host key's fingerprint and line:
       for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -E sha256 -f "\$f"; cat "\$f"; done
  2. Copy the ssh-ed25519 line (its type and key, "ssh-ed25519 AAAA...") into the inventory as
     ssh_host_key of $appliance.
  3. Render the change package again, and use the new fetch-evidence.sh.
EOF
  exit 1
}

say() {
  printf '%s: %s\n' "$prog" "$*"
}

die() {
  for line in "$@"; do
    printf '%s: %s\n' "$prog" "$line" >&2
  done
  exit 1
}

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "REFUSED: $1 is not installed; it is needed to $2."
}

# The folder this script is in, whatever the current directory.
script_dir() {
  CDPATH='' cd -P -- "$(dirname -- "$0")" && pwd -P
}

absolute() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

# SHA-256 of a file read on standard input: no file name reaches an option parser.
sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum <"$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 <"$1" | cut -d ' ' -f 1
  else
    openssl dgst -sha256 <"$1" | sed 's/^.*= *//'
  fi
}

size_of() {
  wc -c <"$1" | tr -d ' \t'
}

check_file() {
  [ -f "$1" ] || die "REFUSED: $2 is not a file: $1" "Nothing was copied."
  [ -r "$1" ] || die "REFUSED: $2 cannot be read: $1" "Nothing was copied."
}

check_sha256() {
  say "checking the SHA-256 of $2: $1"
  actual=$(sha256_of "$1" | tr 'A-F' 'a-f')
  [ "$actual" = "$3" ] || die \
    "REFUSED: $2 is not the one in the plan: $1" \
    "  expected SHA-256: $3" \
    "  actual SHA-256:   ${actual:-(none: the file could not be read)}" \
    "Nothing was copied. $4"
}

# known_hosts must hold the inventory's key and nothing else: a line added by hand would
# otherwise be trusted as well.
check_known_hosts() {
  [ -f "$1" ] || die \
    "REFUSED: $1 is missing: it pins the appliance's host key." \
    "Use the transfer folder as the change package holds it (render the package again)."
  listed=$(ssh-keygen -l -E sha256 -f "$1" 2>/dev/null) ||
    die "REFUSED: $1 holds no readable host key. Render the change package again."
  printf '%s\n' "$listed" | awk -v want="$host_key_fingerprint" '
    $2 != want { bad = 1 }
    END { exit (NR == 0 || bad) }
  ' || die \
    "REFUSED: $1 holds keys other than the inventory's ($host_key_fingerprint):" \
    "$listed" \
    "Render the change package again; never edit known_hosts by hand."
}

# A value for an ssh -o option: double quotes, \ and " escaped, % doubled (ssh expands %-tokens).
ssh_option_value() {
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/[\\"]/\\&/g' -e 's/%/%%/g')"
}

# sftp reads its argument as HOST:PATH: an IPv6 address goes in brackets, or it would be
# cut at its first colon.
sftp_destination() {
  case $1 in
    *:*) printf '[%s]\n' "$1" ;;
    *) printf '%s\n' "$1" ;;
  esac
}

# Why sftp could not start a session, named from ssh's and sftp's own messages in the log $1,
# with those lines beside the verdict and what to do next; $2 is what was not done ("Nothing
# was uploaded."). Returns only when the log names none of these causes.
diagnose() {
  diag_log=$1
  diag_none=$2
  if diag_seen 'Host key verification failed' 'REMOTE HOST IDENTIFICATION HAS CHANGED' \
    'No matching host key' 'no matching host key'; then
    diag_say "REFUSED: $host did not present the inventory's host key ($host_key_fingerprint)."
    diag_lines
    diag_say "$diag_none Do not connect until you know why: read the key on the" \
      "appliance's console (ssh-keygen -l -E sha256 -f $host_key_file)" \
      "and compare; if the appliance's key really changed, correct the inventory and render again."
    exit 1
  fi
  # Past the session's start, a failure is the transfer's, not the connection's.
  ! grep -q -e '^sftp> ' -- "$diag_log" || return 0
  if diag_seen 'Could not resolve hostname' 'Name or service not known' \
    'Temporary failure in name resolution' 'nodename nor servname' 'No address associated'; then
    diag_fail "name resolution: this workstation cannot resolve the name $host." \
      "Next: check the name in the inventory (host of $appliance) and this workstation's DNS" \
      "(nslookup $host); with the appliance's IP address in the inventory, render again."
  elif diag_seen 'Connection refused'; then
    diag_fail "connection refused: nothing listens on $host port $port." \
      "Next: on the appliance's console, check that SSH is started (the runbook's step that" \
      "enables SSH) and that it listens on port $port (ssh_port in the inventory)."
  elif diag_seen 'timed out' 'Operation timed out'; then
    diag_fail "time-out: $host did not answer on port $port within 30 seconds." \
      "Next: check that the VM is powered on and that the address is the appliance's; a" \
      "firewall between this workstation and the appliance may drop port $port."
  elif diag_seen 'No route to host' 'Network is unreachable'; then
    diag_fail "no route: this workstation has no network path to $host." \
      "Next: check the address in the inventory and this workstation's network (VPN, jump host)."
  elif diag_seen 'Permission denied' 'Too many authentication failures'; then
    diag_fail "authentication: the appliance did not accept $user's password or key." \
      "Next: type root's password again (mind the keyboard layout); check it by logging in" \
      "as root on the appliance's console."
  elif diag_seen 'subsystem request failed'; then
    if [ "$protocol" = scp ]; then
      diag_fail "no SFTP: the appliance's SSH server offers no SFTP subsystem." \
        "Next: the inventory says the appliance takes SCP: use WinSCP with SCP, as the runbook" \
        "describes."
    fi
    diag_fail "no SFTP: the appliance's SSH server offers no SFTP subsystem." \
      "Next: on the appliance's console, check the Subsystem sftp line of /etc/ssh/sshd_config," \
      "or use WinSCP with SCP."
  elif diag_seen 'Connection closed' 'Connection reset'; then
    diag_fail "connection closed: $host closed the connection before the session started." \
      "Next: read the lines above; on the appliance's console, check that sshd runs and that" \
      "root may log in over SSH."
  fi
}

# Whether the log holds any of the messages given (as fixed text, in any case); the first
# three such lines are kept for diag_lines.
diag_seen() {
  diag_found=$(for diag_text in "$@"; do grep -i -F -e "$diag_text" -- "$diag_log"; done | head -n 3) || true
  [ -n "$diag_found" ]
}

# The messages diag_seen found, each once, as ssh or sftp printed them (line ends dropped,
# other control characters replaced).
diag_lines() {
  printf '%s\n' "$diag_found" | LC_ALL=C tr -d '\r' | LC_ALL=C tr -c '[:print:]\n' '?' |
    awk '!seen[$0]++' | while IFS= read -r diag_line; do
    printf '%s:   ssh/sftp said: %s\n' "$prog" "$diag_line" >&2
  done
}

diag_say() {
  for diag_text in "$@"; do
    printf '%s: %s\n' "$prog" "$diag_text" >&2
  done
}

diag_fail() {
  diag_say "FAILED: $1"
  diag_lines
  shift
  diag_say "$@" "$diag_none"
  exit 1
}

# SHA-256 of standard input.
sha256_stdin() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 | cut -d ' ' -f 1
  else
    openssl dgst -sha256 | sed 's/^.*= *//'
  fi
}

fetch() {
  say "connecting to $user@$host port $port; its $host_key_type host key must be $host_key_fingerprint"
  say "copying $state_dir and the inplaceupgradeum-* logs into $dest"
  mkdir -p -- "$install_logs_name" "$backup_logs_name"
  status=0
  (
    sftp -o BatchMode=no -b "$batch" -P "$port" \
      -o StrictHostKeyChecking=yes \
      -o "UserKnownHostsFile=$(ssh_option_value "$known_hosts")" \
      -o GlobalKnownHostsFile=/dev/null \
      -o "HostKeyAlgorithms=$host_key_algorithms" \
      -o CheckHostIP=no \
      -o UpdateHostKeys=no \
      -o ConnectTimeout=30 \
      -o ServerAliveInterval=15 \
      -o ServerAliveCountMax=4 \
      -o "User=$user" \
      -- "$(sftp_destination "$host")" 2>&1 || echo "$?" >"$work/failed"
  ) | tee "$log"
  [ ! -f "$work/failed" ] || status=$(cat "$work/failed")
  if [ "$status" -eq 0 ]; then
    return 0
  fi
  diagnose "$log" "Nothing was copied."
  if grep -q -F -e "\"$state_dir\" not found" -- "$log"; then
    die \
      "FAILED: $appliance has no $state_dir: the agent has not run there, or the snapshot" \
      "was already reverted. Note what the console still shows in the ticket instead."
  fi
  die \
    "FAILED: sftp stopped with exit code $status (its output is above)." \
    "What was copied is in $dest, unchecked. Fix the cause, then run" \
    "fetch-evidence.sh again into a new folder."
}

# The file on the appliance that the copied file $1 (relative to FOLDER) came from.
remote_of() {
  case $1 in
    "$state_name"/*) printf '%s/%s\n' "$state_dir" "${1#"$state_name"/}" ;;
    "$install_logs_name"/*) printf '%s/%s\n' "$install_logs" "${1#"$install_logs_name"/}" ;;
    "$backup_logs_name"/*) printf '%s/%s\n' "$backup_logs" "${1#"$backup_logs_name"/}" ;;
  esac
}

# The size sftp listed for the remote file $1 (an ls -l line: 8 fields, then the name).
listed_size() {
  UM_NAME=$1 LC_ALL=C awk '
    $1 ~ /^-/ {
      name = $0
      for (i = 1; i <= 8; i++) sub(/^[^ ]+ +/, "", name)
      if (name == ENVIRON["UM_NAME"]) size = $5
    }
    END { print size }
  ' "$log"
}

# Every file copied has the size the appliance listed for it.
check_sizes() {
  count=0
  total=0
  find "$state_name" "$install_logs_name" "$backup_logs_name" -type f >"$work/files"
  while IFS= read -r file; do
    remote=$(remote_of "$file")
    remote_size=$(listed_size "$remote")
    local_size=$(size_of "$file")
    [ -n "$remote_size" ] || die \
      "FAILED: the listing on the appliance does not show $remote (copied as $file)." \
      "Run fetch-evidence.sh again into a new folder."
    [ "$remote_size" = "$local_size" ] || die \
      "FAILED: $remote has $remote_size bytes on the appliance and $local_size here ($file)." \
      "Run fetch-evidence.sh again into a new folder."
    count=$((count + 1))
    total=$((total + local_size))
  done <"$work/files"
}

# The evidence JSON $1 against the digest it records: the SHA-256 of its text with the digest
# field empty, as the agent computes it.
check_digest() {
  recorded=$(LC_ALL=C sed -n 's/^  "digest": "sha256:\([0-9a-f]*\)",$/\1/p' "$1" | head -n 1)
  [ "${#recorded}" -eq 64 ] || die \
    "FAILED: $1 records no digest: it is not the agent's evidence, or it was cut short." \
    "On the appliance run: bash $agent_after report, then fetch-evidence.sh again into a new folder."
  actual=$(LC_ALL=C awk '
    !done && sub(/^  "digest": "sha256:[0-9a-f]+",$/, "  \"digest\": \"\",") { done = 1 }
    { print }
  ' "$1" | sha256_stdin)
  [ "$actual" = "$recorded" ] || die \
    "FAILED: $1 is not the file the agent wrote: its digest does not match." \
    "  recorded: sha256:$recorded" \
    "  actual:   sha256:$actual" \
    "It changed after the agent wrote it, or in the copy. On the appliance run:" \
    "bash $agent_after report, then fetch-evidence.sh again into a new folder."
  say "  digest OK: $1"
}

main() {
  case ${1-} in
    -h | --help)
      usage
      exit 0
      ;;
  esac
  [ -n "$host_key_fingerprint" ] || refuse_without_host_key
  if [ "$#" -gt 1 ]; then
    usage >&2
    exit 2
  fi

  need_cmd sftp "copy the evidence"
  need_cmd ssh-keygen "read known_hosts"
  command -v sha256sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1 ||
    need_cmd openssl "compute SHA-256 checksums (or install sha256sum or shasum)"

  here=$(script_dir)
  known_hosts=$here/known_hosts
  batch=$here/sftp-fetch-evidence.batch
  if [ "$#" -eq 1 ]; then
    dest=$(absolute "$1")
  else
    dest=$here/$evidence_relpath
  fi
  check_file "$batch" "the sftp batch file"
  check_sha256 "$batch" "the sftp batch file" "$batch_sha256" \
    "The change package was changed after it was generated: render it again."
  check_known_hosts "$known_hosts"
  if [ -e "$dest" ] && [ ! -d "$dest" ]; then
    die "REFUSED: FOLDER is not a folder: $dest" "Nothing was copied."
  fi
  mkdir -p -- "$dest" || die "REFUSED: cannot create the folder $dest" "Nothing was copied."
  dest=$(CDPATH='' cd -P -- "$dest" && pwd -P)
  [ -z "$(ls -A -- "$dest")" ] || die \
    "REFUSED: $dest is not empty: it may hold an earlier copy, which this one must not mix with." \
    "Nothing was copied. Name a new folder: sh fetch-evidence.sh FOLDER"

  work=$(mktemp -d "${TMPDIR:-/tmp}/um-fetch.XXXXXX") || die "FAILED: cannot create a temporary folder."
  trap 'rm -rf -- "$work"' EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cd "$dest"
  log=$dest/fetch-evidence.log

  fetch
  check_sizes
  own=$state_name/$evidence_json
  [ -f "$own" ] || die \
    "FAILED: the copy holds no $evidence_json: the agent has written no evidence for this upgrade." \
    "On the appliance run: bash $agent_after report, then fetch-evidence.sh again into a new folder."
  say "checking the digest each evidence JSON records"
  for json in "$state_name"/evidence-*.json; do
    check_digest "$json"
  done

  say "FETCHED: $count files, $total bytes, from $appliance into $dest; sizes and the evidence's digest checked."
  say "Attach to change $ticket:"
  say "  $dest/$own"
  say "  $dest/${own%.json}.md"
  say "and the upgrade logs in $dest/logs (sftp's messages: $log)."
}

main "$@"
