#!/usr/bin/env bash
# Checks the unit files with `systemd-analyze verify` (no running systemd needed).
#
#   systemd/verify.sh [EARSHOTD]
#       The checkout's units. They name installed paths (/usr/local/bin/earshotd, ~/.local/bin/earshotd) that a
#       checkout does not have, so each is verified from a copy whose ExecStart points at a real executable (EARSHOTD
#       if given, else /bin/true); everything else is verified as written.
#   systemd/verify.sh --installed SYSTEM_UNIT_DIR USER_UNIT_DIR
#       The units as installed (the Debian package, make install), unchanged: their ExecStart must exist.
#
# Exit 0 if every unit passes, 77 if systemd-analyze is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v systemd-analyze >/dev/null; then
    echo "verify.sh: systemd-analyze not found (apt-get install systemd); skipped" >&2
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/user"
if [ "${1:-}" = --installed ]; then
    system_dir=${2:?usage: verify.sh --installed SYSTEM_UNIT_DIR USER_UNIT_DIR}
    user_dir=${3:?usage: verify.sh --installed SYSTEM_UNIT_DIR USER_UNIT_DIR}
    cp "$system_dir/earshotd.service" "$system_dir/earshotd.socket" "$work/"
    cp "$user_dir/earshotd.service" "$work/user/earshotd.service"
    what="the installed earshotd.service, earshotd.socket (in $system_dir) and user unit (in $user_dir)"
else
    binary=${1:-/bin/true}
    for unit in earshotd.service earshotd.socket; do
        sed -e "s|/usr/local/bin/earshotd|$binary|" "$here/$unit" > "$work/$unit"
    done
    # The network drop-in is verified with the service it extends.
    mkdir -p "$work/earshotd.service.d"
    cp "$here/earshotd.service.d/network.conf" "$work/earshotd.service.d/"
    sed -e "s|%h/.local/bin/earshotd|$binary|" "$here/earshotd-user.service" > "$work/user/earshotd.service"
    what="earshotd.service, earshotd.socket and the user unit"
fi
status=0
# The group in SocketGroup= may not exist here; systemd-analyze does not check it.
if ! (cd "$work" && systemd-analyze verify --man=no ./earshotd.socket ./earshotd.service) 2>"$work/system.log"; then
    status=1
fi
mkdir -p "$work/run"
if ! (cd "$work/user" && XDG_RUNTIME_DIR="$work/run" systemd-analyze --user verify --man=no ./earshotd.service) \
    2>"$work/user.log"; then
    status=1
fi
# systemd-analyze exits 0 on unknown keys and bad values ("…, ignoring"): any line about our units is a failure.
# Lines about the host's own units are noise in containers and ignored.
if grep -h "earshotd" "$work/system.log" "$work/user.log" >&2; then
    status=1
fi
if [ $status -ne 0 ]; then
    cat "$work/system.log" "$work/user.log" >&2
    echo "verify.sh: FAILED" >&2
    exit 1
fi
echo "verify.sh: $what pass systemd-analyze verify"
