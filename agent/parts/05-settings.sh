# shellcheck shell=bash disable=SC2034 # globals set here, read by later parts
set -Eeuo pipefail
shopt -u patsub_replacement 2>/dev/null || true
export LC_ALL=C
umask 077

readonly UM_PROG="um-upgrade-agent"
readonly UM_NAME="um-upgrade-agent.sh"
readonly UM_END_MARKER="# end of um-upgrade-agent.sh"
readonly UM_MANIFEST_VERSION=2
# The manifest's keys, in order: the generator writes them here from its own list.
#@@MANIFEST_KEYS@@
readonly UM_EVIDENCE_SCHEMA="umrunbook-agent-evidence/1"
readonly UM_READINESS_SCHEMA="umrunbook-agent-readiness/1"
readonly BOOT_ID_FILE="/proc/sys/kernel/random/boot_id"

