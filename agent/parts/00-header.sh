# shellcheck shell=bash
# um-upgrade-agent.sh: runs the on-appliance steps of an in-place upgrade of a VMware Usage Meter #
# appliance (umrunbook). Generated per appliance: the "#@ key=value" lines below are that #
# appliance's manifest (values only, never commands); the logic is the reviewed script below them. #
# Run as root:  bash um-upgrade-agent.sh help #
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

