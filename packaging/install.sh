#!/usr/bin/env bash
# Installs Earshot under $DESTDIR$PREFIX: the one description of the installed layout, used by `make install` and by
# the Debian package (packaging/build-deb.sh).
#
#   packaging/install.sh BIN_DIR [MAN_DIR]
#
# BIN_DIR holds the built earshot and earshotd; MAN_DIR the generated man pages (*.1), if any. Environment:
#   PREFIX            /usr/local
#   DESTDIR           empty (a staging root: files go to $DESTDIR$PREFIX/…, and the paths written into them are
#                     the final ones, without DESTDIR)
#   SYSCONFDIR        $PREFIX/etc, or /etc when PREFIX is /usr
#   SYSTEMD_UNIT_DIR  $PREFIX/lib/systemd/system, or /lib/systemd/system when PREFIX is /usr (Debian 12's place)
#
# Layout (relative to PREFIX unless absolute):
#   bin/earshot, bin/earshotd                      stripped
#   share/earshot/silero-vad/                      the VAD weights and their LICENSE (found from bin/ by default)
#   share/man/man1/*.1.gz
#   share/doc/earshot/copyright, examples/earshotd.service.d/network.conf
#   SYSCONFDIR/earshot/earshotd.conf               kept if it exists (your settings)
#   SYSTEMD_UNIT_DIR/earshotd.service, .socket     ExecStart=PREFIX/bin/earshotd --config SYSCONFDIR/earshot/…
#   lib/systemd/user/earshotd.service              ExecStart=PREFIX/bin/earshotd
#   lib/sysusers.d/earshot.conf                    the earshot system user and group
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:?usage: packaging/install.sh BIN_DIR [MAN_DIR]}
man=${2:-}
prefix=${PREFIX:-/usr/local}
prefix=${prefix%/}
destdir=${DESTDIR:-}
if [ "$prefix" = /usr ]; then
    sysconfdir=${SYSCONFDIR:-/etc}
    unitdir=${SYSTEMD_UNIT_DIR:-/lib/systemd/system}
else
    sysconfdir=${SYSCONFDIR:-$prefix/etc}
    unitdir=${SYSTEMD_UNIT_DIR:-$prefix/lib/systemd/system}
fi
for tool in earshot earshotd; do
    [ -x "$bin/$tool" ] || { echo "install.sh: $bin/$tool is not built (make release-static)" >&2; exit 1; }
done

d() { install -d -m 755 "$destdir$1"; }
# The files' own paths, rewritten for this prefix: the units and the config name /usr/local (and the user unit
# ~/.local/bin) as the checkout ships them.
rewrite() {
    sed -e "s|/usr/local/bin/earshotd|$prefix/bin/earshotd|g" \
        -e "s|%h/.local/bin/earshotd|$prefix/bin/earshotd|g" \
        -e "s|/etc/earshot/earshotd.conf|$sysconfdir/earshot/earshotd.conf|g" \
        -e "s|/usr/local/share/earshot|$prefix/share/earshot|g" "$1"
}

d "$prefix/bin"
for tool in earshot earshotd; do
    install -m 755 -s "$bin/$tool" "$destdir$prefix/bin/$tool"
done

d "$prefix/share/earshot/silero-vad"
install -m 644 "$root/models/silero-vad/silero_vad_16k_v6.safetensors" "$root/models/silero-vad/LICENSE" \
    "$destdir$prefix/share/earshot/silero-vad/"

if [ -n "$man" ]; then
    d "$prefix/share/man/man1"
    for page in "$man"/*.1; do
        gzip -9n < "$page" > "$destdir$prefix/share/man/man1/$(basename "$page").gz"
        chmod 644 "$destdir$prefix/share/man/man1/$(basename "$page").gz"
    done
fi

d "$prefix/share/doc/earshot/examples/earshotd.service.d"
install -m 644 "$root/packaging/copyright" "$destdir$prefix/share/doc/earshot/copyright"
install -m 644 "$root/systemd/earshotd.service.d/network.conf" \
    "$destdir$prefix/share/doc/earshot/examples/earshotd.service.d/network.conf"

d "$sysconfdir/earshot"
if [ -e "$destdir$sysconfdir/earshot/earshotd.conf" ]; then
    echo "install.sh: keeping $destdir$sysconfdir/earshot/earshotd.conf (the shipped one is $root/systemd/earshotd.conf)"
else
    rewrite "$root/systemd/earshotd.conf" > "$destdir$sysconfdir/earshot/earshotd.conf"
    chmod 644 "$destdir$sysconfdir/earshot/earshotd.conf"
fi

d "$unitdir"
for unit in earshotd.service earshotd.socket; do
    rewrite "$root/systemd/$unit" > "$destdir$unitdir/$unit"
    chmod 644 "$destdir$unitdir/$unit"
done
d "$prefix/lib/systemd/user"
rewrite "$root/systemd/earshotd-user.service" > "$destdir$prefix/lib/systemd/user/earshotd.service"
chmod 644 "$destdir$prefix/lib/systemd/user/earshotd.service"

d "$prefix/lib/sysusers.d"
install -m 644 "$root/packaging/sysusers.d/earshot.conf" "$destdir$prefix/lib/sysusers.d/earshot.conf"
