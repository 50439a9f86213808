#!/usr/bin/env bash
# Builds dist/earshot_<version>_<arch>.deb from built binaries (make deb runs it after the static release build and
# the man pages). No debhelper: the layout is packaging/install.sh's (PREFIX=/usr), the maintainer scripts are
# packaging/debian/, dependencies come from dpkg-shlibdeps, the version from the VERSION file.
#
#   packaging/build-deb.sh BIN_DIR MAN_DIR
#
# DEB_MAINTAINER overrides the Maintainer field.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:?usage: packaging/build-deb.sh BIN_DIR MAN_DIR}
man=${2:?usage: packaging/build-deb.sh BIN_DIR MAN_DIR}
version=$(tr -d '[:space:]' < "$root/VERSION")
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-Earshot maintainers <maintainers@earshot.invalid>}
work="$root/dist/work"
stage="$work/earshot_${version}_${arch}"
deb="$root/dist/earshot_${version}_${arch}.deb"
rm -rf "$work" "$deb"
mkdir -p "$stage/DEBIAN" "$work/debian"
umask 022

PREFIX=/usr SYSCONFDIR=/etc SYSTEMD_UNIT_DIR=/lib/systemd/system DESTDIR="$stage" \
    "$root/packaging/install.sh" "$bin" "$man" >/dev/null
install -d -m 755 "$stage/var/lib/earshot"   # where the default config looks for the model

# The Debian changelog: one entry per version, dated by the commit built (reproducible), else by VERSION.
date=$(git -C "$root" log -1 --format=%aD 2>/dev/null || date -R -r "$root/VERSION")
revision=$(git -C "$root" rev-parse --short=8 HEAD 2>/dev/null || echo unknown)
{
    echo "earshot ($version) unstable; urgency=medium"
    echo
    echo "  * Earshot $version, built from git revision $revision."
    echo
    echo " -- $maintainer  $date"
} | gzip -9n > "$stage/usr/share/doc/earshot/changelog.gz"
chmod 644 "$stage/usr/share/doc/earshot/changelog.gz"

# Shared libraries → Depends. dpkg-shlibdeps wants a debian/control beside it; a minimal one is enough.
printf 'Source: earshot\n\nPackage: earshot\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "$stage/usr/bin/earshot" "$stage/usr/bin/earshotd" \
    | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@SHLIBS_DEPENDS@|$shlibs|" \
    "$root/packaging/debian/control.in" > "$stage/DEBIAN/control"
echo /etc/earshot/earshotd.conf > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 755 "$root/packaging/debian/$script" "$stage/DEBIAN/$script"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    > "$stage/DEBIAN/md5sums"
chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$work"
echo "$deb"
