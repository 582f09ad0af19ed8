# shellcheck shell=bash
# um-upgrade-agent.sh: runs the on-appliance steps of an in-place upgrade of a VMware Usage Meter #
# appliance (umrunbook). Generated per appliance: the "#@ key=value" lines below are that #
# appliance's manifest (values only, never commands); the logic is the reviewed script below them. #
# Run as root:  bash um-upgrade-agent.sh help #
# What it may change and run as root: the list after the first checks, below the manifest. #
#@@MANIFEST@@
if [ -z "${BASH_VERSION:-}" ]; then echo "um-upgrade-agent: FAIL: this is a bash script: run it as: bash um-upgrade-agent.sh help" >&2; exit 2; fi #
if [ "${BASH_VERSINFO[0]}" -lt 4 ] || { [ "${BASH_VERSINFO[0]}" -eq 4 ] && [ "${BASH_VERSINFO[1]}" -lt 2 ]; }; then echo "um-upgrade-agent: FAIL: bash 4.2 or later is needed, this is bash ${BASH_VERSION}: run it on the appliance as root" >&2; exit 1; fi #
UM_SELF="${BASH_SOURCE[0]:-}" #
# Sourced ('. um-upgrade-agent.sh', as the unit tests do): constants and functions only, no check, no main. #
UM_SOURCED=0; if [[ -n "$UM_SELF" && "$UM_SELF" != "$0" ]]; then UM_SOURCED=1; fi #
if ((UM_SOURCED == 0)) && { [ -z "$UM_SELF" ] || [ ! -f "$UM_SELF" ] || [ ! -r "$UM_SELF" ]; }; then echo "um-upgrade-agent: FAIL: run this agent as a file (bash um-upgrade-agent.sh COMMAND), not from a pipe" >&2; exit 2; fi #
UM_TEXT=""; if ((UM_SOURCED == 0)); then UM_TEXT="$(< "$UM_SELF")"; fi #
if ((UM_SOURCED == 0)) && [[ "$UM_TEXT" == *$'\r'* ]]; then printf '%s\n' "um-upgrade-agent: INTEGRITY: $UM_SELF has Windows (CRLF) line endings: it was transferred in text mode, which changes the file." "Upload it again in BINARY mode (WinSCP: Preferences > Transfer > Binary; scp/sftp always copy binary), check it with sha256sum -c as the runbook shows, then run it again." >&2; exit 4; fi #
if ((UM_SOURCED == 0)) && [[ "$UM_TEXT" != *$'\n''# end of um-upgrade-agent.sh' ]]; then printf '%s\n' "um-upgrade-agent: INTEGRITY: $UM_SELF is truncated: its last line is not the end marker (the transfer stopped early)." "Upload it again (binary mode), check it with sha256sum -c as the runbook shows, then run it again." >&2; exit 4; fi #
unset UM_TEXT #

# What this agent may change, and what it runs as root (kept with the code: a test checks it).
#
# Files it writes: only under state_dir (the manifest's: /var/lib/um-upgrade-agent), made mode 700:
#   .lock (flock; without flock: .lock.pid, removed at exit)
#   run-<appliance>-<ticket>-<target>/: state, checks.tsv, commands.tsv, bundle-output.log,
#     status-output.txt, upgrade-log-errors.txt (each written as NAME.tmp.* or NAME.tmp, then
#     renamed)
#   um-upgrade-agent.sh and um-upgrade-agent-<target>.sh (its own copies, at upgrade)
#   evidence-<appliance>-<ticket>-<target>.json and .md
#   readiness-<appliance>-<ticket>/ (state, checks.tsv) and readiness-<appliance>-<ticket>.json
#     (readiness: its own records only)
# and, for an ISO's signature check, one temporary file in $TMPDIR or /tmp
# (um-upgrade-agent-key.*: the certificate's public key), removed at once.
# It never writes, moves or deletes anything in install_dir, backup_dir or upload_dir itself;
# the vendor's .shar bundle, which it runs, replaces install_dir and makes backup_dir.
#
# Commands it runs (as root; every one is recorded in commands.tsv or shown):
#   cd install_dir && bash ./<bundle_file> | tee -a bundle-output.log   upgrade, .shar only, once
#   cd install_dir && ./scripts/status.sh (under timeout 120 where found)   preflight, verify
#   systemctl is-enabled sshd, systemctl is-active sshd (or service sshd status)  preflight, finish
#   sha1sum, head, wc (reading /dev/cdrom)                   check-cdrom: read only
#   systemctl stop sshd / disable sshd (or service sshd stop)  finish: SSH as before the change
#   reboot                                                   upgrade --reboot, after the bundle
#   sha1sum -c <mf> (in upload_dir), sha1sum, openssl x509, openssl verify, openssl dgst -verify
#                                                            preflight of an ISO: read only
#   chage -l root, tdnf --version; reads /etc/ssh/ssh_host_*_key.pub and /etc/sysconfig/proxy
#                                                            readiness: read only
# and, to read facts: sha256sum, df -Pk, stat, hostname, hostname -f, uname -n, date, head,
# tail, tr, cut, cat, dirname, basename, mktemp, flock, sleep, kill -0 (is the lock's PID alive).
# To write its own files above: mkdir -p, chmod, cp, mv -f -T, sync, rm -f (those files only).
# It prints the ISO's vendor commands (mount, upgrade-um.sh) for the operator and never runs them.
# --dry-run runs only the read-only checks (sha256sum, the ISO's sha1sum -c and openssl).
#

