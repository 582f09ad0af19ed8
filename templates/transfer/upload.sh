#!/bin/sh
# upload.sh: copy one upgrade's files and the agent to a Usage Meter appliance with OpenSSH
# (sftp), for the appliance and the change named in the values below.
#
#   sh upload.sh BUNDLE    a .shar upgrade: BUNDLE is the downloaded bundle, wherever it is
#   sh upload.sh FOLDER    an ISO upgrade: FOLDER holds the ISO, its manifest (the ISO's SHA-1),
#                          certificate and signature, under their own names
#
# The agent is found relative to this script (agent_relpath below), whatever the current
# directory. In this order, stopping at the first problem:
#   1. Checked before connecting: a .shar's SHA-256 must be the plan's; an ISO's SHA-1 the one
#      its manifest gives for it (an ISO the manifest does not name is refused) and its SHA-256
#      the inventory's where the inventory gives one; the agent's SHA-256 its own. An ISO's
#      certificate and signature are checked on the appliance.
#   2. The appliance must present the host key in known_hosts next to this script, the
#      inventory's key and no other (StrictHostKeyChecking=yes): never trust on first use.
#      Without a host key in the inventory, this script refuses to run and says how to add it.
#   3. The files go into remote_dir (created if missing) under temporary names (.part) and are
#      renamed only after a complete transfer: a cut-off upload never sits under the real name.
#   4. The sizes listed on the appliance must be the local ones.
# Log in as root with the appliance's password (sftp asks for it) or with a key (ssh-agent or
# ~/.ssh): sftp -b would forbid the password prompt, so BatchMode is set to no. Where the
# inventory names SCP, this script still uses SFTP: if the appliance offers no SFTP, it stops
# before uploading anything; use WinSCP with SCP instead.
#
# The program is the same for every appliance; only the values differ. Regenerate the package
# from the inventory instead of editing them.

set -eu

prog=upload.sh

# --- values (written by umrunbook) ---
appliance=''
host=''
port=''
user=''
remote_dir=''
delivery=''
protocol=''
bundle_name=''
bundle_sha256=''
iso_name=''
iso_sha256=''
manifest_name=''
certificate_name=''
signature_name=''
agent_name=''
agent_sha256=''
agent_relpath=''
host_key_type=''
host_key_fingerprint=''
host_key_algorithms=''
host_key_file=''
batch_sha256=''
# --- end of values ---

usage() {
  if [ "$delivery" = iso ]; then
    cat <<EOF
usage: sh upload.sh FOLDER

Checks the ISO in FOLDER against its manifest, then uploads the four files in FOLDER
  $iso_name
  $manifest_name
  $certificate_name
  $signature_name
and the agent $agent_name to $user@$host port $port, folder $remote_dir
(created if missing), for $appliance.
EOF
  else
    cat <<EOF
usage: sh upload.sh BUNDLE

Uploads BUNDLE (the downloaded $bundle_name) and the agent $agent_name
to $user@$host port $port, folder $remote_dir, for $appliance.
EOF
  fi
}

# Without the appliance's host key, a first connection would have to trust whatever key
# answers: refuse, and say how to add it.
refuse_without_host_key() {
  cat >&2 <<EOF
upload.sh: REFUSED: the inventory has no SSH host key for $appliance ($host, port $port).
Without it the first connection would have to trust whatever key answers. Nothing was uploaded.

To add the key:
  1. On the appliance's console, logged in as root, print each host key's fingerprint and line:
       for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -E sha256 -f "\$f"; cat "\$f"; done
  2. Copy the ssh-ed25519 line (its type and key, "ssh-ed25519 AAAA...") into the inventory as
     ssh_host_key of $appliance.
  3. Render the change package again, and use the new upload.sh.
EOF
  exit 1
}

say() {
  printf 'upload.sh: %s\n' "$*"
}

die() {
  printf 'upload.sh: %s\n' "$@" >&2
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
  [ -f "$1" ] || die "REFUSED: $2 is not a file: $1" "Nothing was uploaded."
  [ -r "$1" ] || die "REFUSED: $2 cannot be read: $1" "Nothing was uploaded."
}

check_sha256() {
  say "checking the SHA-256 of $2: $1"
  actual=$(sha256_of "$1" | tr 'A-F' 'a-f')
  [ "$actual" = "$3" ] || die \
    "REFUSED: $2 is not the one in the plan: $1" \
    "  expected SHA-256: $3" \
    "  actual SHA-256:   ${actual:-(none: the file could not be read)}" \
    "Nothing was uploaded. $4"
}

# SHA-1 of a file read on standard input, as for sha256_of.
sha1_of() {
  if command -v sha1sum >/dev/null 2>&1; then
    sha1sum <"$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 1 <"$1" | cut -d ' ' -f 1
  else
    openssl dgst -sha1 <"$1" | sed 's/^.*= *//'
  fi
}

# The SHA-1 values the manifest $1 gives for the file named $2, one a line, in lower case. The
# vendor's format is not documented: a line may read "<sha1>  <name>" or "<sha1> *<name>"
# (sha1sum) or "SHA1(<name>)= <sha1>" (openssl, OVF manifests), with CRLF line ends or a
# byte order mark. Only a line naming exactly $2 counts.
manifest_sha1() {
  UM_NAME=$2 UM_BOM=$(printf '\357\273\277') LC_ALL=C awk '
    function starts(s, p) { return substr(s, 1, length(p)) == p }
    function ends(s, p) { return length(s) >= length(p) && substr(s, length(s) - length(p) + 1) == p }
    {
      name = ENVIRON["UM_NAME"]
      line = $0
      sub(/\r$/, "", line)
      if (NR == 1 && starts(line, ENVIRON["UM_BOM"])) line = substr(line, 4)
      sub(/^[ \t]+/, "", line)
      sub(/[ \t]+$/, "", line)
      for (i = 1; i <= 2; i++) {
        p = (i == 1 ? "SHA1(" : "SHA1 (") name ")"
        if (starts(line, p)) {
          rest = substr(line, length(p) + 1)
          sub(/^[ \t]*/, "", rest)
          if (substr(rest, 1, 1) == "=") {
            rest = substr(rest, 2)
            sub(/^[ \t]*/, "", rest)
            print tolower(rest)
          }
        }
      }
      for (i = 1; i <= 2; i++) {
        s = (i == 1 ? " " : "*") name
        if (ends(line, s)) {
          h = substr(line, 1, length(line) - length(s))
          sub(/[ \t]+$/, "", h)
          if (h != "" && h !~ /[ \t]/) print tolower(h)
        }
      }
    }
  ' <"$1"
}

# The ISO's SHA-1 against the manifest's line for it: the vendor's check, before connecting.
check_manifest() {
  say "checking the ISO against the manifest $manifest_name (SHA-1)"
  listed=$(manifest_sha1 "$manifest" "$iso_name" | sort -u)
  [ -n "$listed" ] || die \
    "REFUSED: the manifest has no line for $iso_name: $manifest" \
    "Nothing was uploaded. Download the ISO and its manifest again, of the same build."
  [ "$(printf '%s\n' "$listed" | wc -l | tr -d ' \t')" -eq 1 ] || die \
    "REFUSED: the manifest gives different SHA-1 values for $iso_name: $manifest" \
    "$listed" \
    "Nothing was uploaded. Download the ISO and its manifest again."
  case $listed in
    *[!0-9a-f]*) length=0 ;;
    *) length=$(printf '%s' "$listed" | wc -c | tr -d ' \t') ;;
  esac
  [ "$length" -eq 40 ] || die \
    "REFUSED: the manifest's value for $iso_name is not a SHA-1: $listed" \
    "Nothing was uploaded. Download the ISO and its manifest again."
  say "checking the SHA-1 of the ISO: $iso"
  actual=$(sha1_of "$iso" | tr 'A-F' 'a-f')
  [ "$actual" = "$listed" ] || die \
    "REFUSED: the ISO does not match the vendor's manifest: $iso" \
    "  manifest SHA-1: $listed" \
    "  actual SHA-1:   ${actual:-(none: the file could not be read)}" \
    "Nothing was uploaded. Download the ISO again; if the checksum still differs, download" \
    "the manifest again and compare both with the vendor's download page."
  say "  SHA-1 OK: $actual"
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

upload() {
  say "connecting to $user@$host port $port; its $host_key_type host key must be $host_key_fingerprint"
  if [ "$delivery" = iso ]; then
    total=0
    for name in "$iso_name" "$manifest_name" "$certificate_name" "$signature_name" "$agent_name"; do
      total=$((total + $(size_of "$work/$name")))
    done
    say "uploading five files, $total bytes, into $remote_dir (created if missing)"
    say "sftp prints each command as it starts it; the ISO takes a while"
    # sftp runs in the staging folder (the current directory), where the batch file's local
    # names are the five files.
  else
    say "uploading $(size_of "$work/$bundle_name") + $(size_of "$work/$agent_name") bytes into $remote_dir"
    say "sftp prints each command as it starts it; the bundle takes a while"
    # sftp runs in the staging folder (the current directory), where the batch file's local
    # names are the two files.
  fi
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
  ) | tee "$work/sftp.log"
  [ ! -f "$work/failed" ] || status=$(cat "$work/failed")
  if [ "$status" -eq 0 ]; then
    return 0
  fi
  diagnose "$work/sftp.log" "Nothing was uploaded."
  die \
    "FAILED: sftp stopped with exit code $status (its output is above)." \
    "A file that was cut off stays under its temporary name (.part) on the appliance," \
    "never under its real name. Fix the cause and run upload.sh again."
}

# The sizes sftp listed after the renames, against the local ones.
check_size() {
  remote=$(awk -v name="$1" '$1 ~ /^-/ && $NF == name { size = $5 } END { print size }' "$work/sftp.log")
  local_size=$(size_of "$work/$1")
  [ -n "$remote" ] || die "FAILED: the listing on the appliance does not show $1."
  [ "$remote" = "$local_size" ] || die \
    "FAILED: $1 has $remote bytes on the appliance and $local_size here." \
    "Run upload.sh again."
}

main() {
  case ${1-} in
    -h | --help)
      usage
      exit 0
      ;;
  esac
  [ -n "$host_key_fingerprint" ] || refuse_without_host_key
  if [ "$#" -ne 1 ]; then
    usage >&2
    exit 2
  fi
  if [ "$delivery" = iso ]; then
    upload_iso "$1"
  else
    upload_shar "$1"
  fi
}

upload_iso() {
  folder=$(absolute "$1")

  need_tools
  command -v sha1sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1 ||
    need_cmd openssl "compute SHA-1 checksums (or install sha1sum or shasum)"

  find_package_files

  [ -d "$folder" ] || die "REFUSED: FOLDER is not a folder: $folder" "Nothing was uploaded."
  iso=$folder/$iso_name
  manifest=$folder/$manifest_name
  certificate=$folder/$certificate_name
  signature=$folder/$signature_name

  check_file "$iso" "the ISO"
  check_file "$manifest" "the manifest"
  check_file "$certificate" "the certificate"
  check_file "$signature" "the signature"
  check_file "$agent" "the agent"
  check_file "$batch" "the sftp batch file"
  if [ -n "$iso_sha256" ]; then
    check_sha256 "$iso" "the ISO" "$iso_sha256" \
      "Download the ISO again; if the checksum still differs, compare it with the vendor's download page."
  fi
  check_manifest
  check_sha256 "$agent" "the agent" "$agent_sha256" \
    "The change package was changed after it was generated: render it again."
  check_sha256 "$batch" "the sftp batch file" "$batch_sha256" \
    "The change package was changed after it was generated: render it again."
  check_known_hosts "$known_hosts"

  make_staging
  # Links under the plan's names: the batch file never needs the operator's paths.
  ln -s -- "$iso" "$work/$iso_name"
  ln -s -- "$manifest" "$work/$manifest_name"
  ln -s -- "$certificate" "$work/$certificate_name"
  ln -s -- "$signature" "$work/$signature_name"
  ln -s -- "$agent" "$work/$agent_name"
  cd "$work"

  upload
  for name in "$iso_name" "$manifest_name" "$certificate_name" "$signature_name" "$agent_name"; do
    check_size "$name"
  done

  say "UPLOADED: the four upgrade files and $agent_name are in $remote_dir on $appliance, sizes checked."
  say "Next, on the appliance as root, run the runbook's step \"Check the files on the appliance\":"
  say "the agent's SHA-256, the ISO against the manifest, the certificate and the signature. It"
  say "starts with:"
  say "  cd $remote_dir"
  say "  echo '$agent_sha256  $agent_name' | sha256sum -c -"
  say "  sha1sum -c $manifest_name"
}

upload_shar() {
  bundle=$(absolute "$1")

  need_tools

  find_package_files

  check_file "$bundle" "the bundle"
  check_file "$agent" "the agent"
  check_file "$batch" "the sftp batch file"
  check_sha256 "$bundle" "the bundle" "$bundle_sha256" \
    "Download the bundle again; if the checksum still differs, compare it with the vendor's download page."
  check_sha256 "$agent" "the agent" "$agent_sha256" \
    "The change package was changed after it was generated: render it again."
  check_sha256 "$batch" "the sftp batch file" "$batch_sha256" \
    "The change package was changed after it was generated: render it again."
  check_known_hosts "$known_hosts"

  make_staging
  # Links under the plan's names: the batch file never needs the operator's paths.
  ln -s -- "$bundle" "$work/$bundle_name"
  ln -s -- "$agent" "$work/$agent_name"
  cd "$work"

  upload
  check_size "$bundle_name"
  check_size "$agent_name"

  say "UPLOADED: $bundle_name and $agent_name are in $remote_dir on $appliance, sizes checked."
  say "Next, on the appliance as root, check both checksums (each line must end in OK):"
  say "  cd $remote_dir"
  say "  echo '$agent_sha256  $agent_name' | sha256sum -c -"
  say "  echo '$bundle_sha256  $bundle_name' | sha256sum -c -"
}

# The tools both ways need: sftp, ssh-keygen, and something that computes a SHA-256.
need_tools() {
  need_cmd sftp "upload"
  need_cmd ssh-keygen "read known_hosts"
  command -v sha256sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1 ||
    need_cmd openssl "compute SHA-256 checksums (or install sha256sum or shasum)"
}

# The package's own files, next to this script whatever the current directory.
find_package_files() {
  here=$(script_dir)
  agent=$here/$agent_relpath
  known_hosts=$here/known_hosts
  batch=$here/sftp-upload.batch
}

# A staging folder of links under the plan's names, removed however the script ends.
make_staging() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/um-upload.XXXXXX") || die "FAILED: cannot create a temporary folder."
  trap 'rm -rf -- "$work"' EXIT
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

main "$@"
