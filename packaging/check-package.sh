#!/usr/bin/env bash
# The Debian package and `make install`, end to end (what CI runs after the Swift tests; needs root or sudo):
#    1. make deb (the static release build, reused if built), then lintian: no errors (warnings are printed)
#    2. every Swift package Earshot builds with is named in packaging/copyright
#    3. apt-get install ./dist/earshot_<version>_<arch>.deb
#    4. the installed earshotd and earshot print the version with the toolchain out of reach (empty environment),
#       and ldd finds every library and none from the Swift toolchain
#    5. the installed earshotd runs its unit's ExecStart line, as the earshot user the package created, with the
#       tiny fixture model, --source none and a scratch socket; its VAD weights come from /usr/share/earshot by
#       default. The installed `earshot push` of a clip writes the same bytes as the installed `earshot encode`.
#    6. systemd-analyze verify on the installed units (systemd/verify.sh --installed)
#    7. apt-get purge: every file the package listed, /etc/earshot, /usr/share/earshot, /var/lib/earshot and
#       /usr/share/doc/earshot are gone (the earshot system user stays, as Debian leaves system users)
#    8. make install PREFIX=/usr/local DESTDIR=<scratch>: the layout, ExecStart rewritten, and that earshotd
#       --version runs and `earshot vad` finds the weights under its own prefix
# The model is Tests/Fixtures/models/tiny-f32 (a 2-layer random Gemma 4 audio encoder, 0.9 MB): random:e2b would
# build 1.2 GB of weights for the same checks of paths, users and bytes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
start=$SECONDS
work=$(mktemp -d /tmp/earshot-check-package.XXXXXX)
daemon_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
    $SUDO rm -rf "$work"
}
trap cleanup EXIT
step() { echo "check-package: $*"; }
fail() { echo "check-package: FAILED: $*" >&2; exit 1; }

version=$(tr -d '[:space:]' < VERSION)
arch=$(dpkg --print-architecture)
deb="dist/earshot_${version}_${arch}.deb"

step "1. make deb"
deb_start=$SECONDS
make --no-print-directory deb >/dev/null
[ -f "$deb" ] || fail "make deb did not write $deb"
step "   $deb, $(du -h "$deb" | cut -f1), in $((SECONDS - deb_start)) s"
if command -v lintian >/dev/null; then
    lintian --tag-display-limit 0 "$deb" > "$work/lintian.txt" 2>&1 || true
    sed 's/^/   /' "$work/lintian.txt"
    if grep -q '^E:' "$work/lintian.txt"; then fail "lintian reports errors"; fi
else
    fail "lintian is not installed (scripts/install-deps.sh installs it)"
fi

step "2. the copyright file names every Swift package built with"
for checkout in .build/checkouts/*/; do
    name=$(basename "$checkout")
    grep -q "\.build/checkouts/$name/\*" packaging/copyright || fail "packaging/copyright does not name $name"
done

step "3. apt-get install ./$deb"
if dpkg-query -W earshot >/dev/null 2>&1; then $SUDO apt-get purge -y -qq earshot >/dev/null; fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "./$deb" >/dev/null
dpkg-query -L earshot > "$work/files.txt"

step "4. the installed binaries, without the toolchain"
expected="earshot $version (git $(git rev-parse --short=8 HEAD 2>/dev/null || echo unknown))"
for tool in earshotd earshot; do
    got=$(env -i PATH=/usr/bin:/bin "/usr/bin/$tool" --version)
    [ "$got" = "$expected" ] || fail "/usr/bin/$tool --version says '$got', expected '$expected'"
    ldd "/usr/bin/$tool" > "$work/ldd.txt"
    if grep -q "not found" "$work/ldd.txt"; then fail "/usr/bin/$tool: $(grep 'not found' "$work/ldd.txt")"; fi
    if grep -q "/opt/swift\|libswift\|libFoundation\|libdispatch" "$work/ldd.txt"; then
        fail "/usr/bin/$tool links the Swift toolchain: $(grep "swift\|Foundation\|dispatch" "$work/ldd.txt")"
    fi
done
step "   $expected; needs $(objdump -p /usr/bin/earshotd | awk '/NEEDED/ {print $2}' | tr '\n' ' ')"

step "5. the unit's ExecStart, run as earshot"
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/earshotd.service)
[ "${exec_start%% *}" = /usr/bin/earshotd ] || fail "the installed unit runs '$exec_start'"
getent passwd earshot >/dev/null || fail "the package did not create the earshot user"
install -d -m 755 "$work/model"
cp Tests/Fixtures/models/tiny-f32/* "$work/model/"
install -d -o earshot -g earshot -m 750 "$work/run"
clip=Tests/Fixtures/cases/speech/input.wav
cp "$clip" "$work/clip.wav"
chmod -R a+rX "$work/model" "$work/clip.wav"
chmod 755 "$work"
socket="$work/run/earshot.sock"
# shellcheck disable=SC2086  # ExecStart is word-split as systemd would (it has no quotes)
$SUDO setpriv --reuid=earshot --regid=earshot --clear-groups --reset-env \
    $exec_start --model "$work/model" --source none --socket "$socket" --log-level warning \
    > "$work/earshotd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do
    [ -S "$socket" ] && break
    kill -0 "$daemon_pid" 2>/dev/null || fail "the installed earshotd exited: $(cat "$work/earshotd.log")"
    sleep 0.1
done
[ -S "$socket" ] || fail "the installed earshotd made no socket in 30 s: $(cat "$work/earshotd.log")"
$SUDO /usr/bin/earshot status --socket "$socket" --json > "$work/status.json"
grep -Eq "\"version\" ?: ?\"$version\"" "$work/status.json" || fail "the status has no version $version"
grep -Eq '"on" ?: ?true' "$work/status.json" || fail "voice activity is off: the weights were not found by default"
$SUDO /usr/bin/earshot push --socket "$socket" --input "$work/clip.wav" --output "$work/pushed.npy"
/usr/bin/earshot encode --model "$work/model" --input "$work/clip.wav" --output "$work/encoded.npy"
cmp "$work/pushed.npy" "$work/encoded.npy" || fail "earshot push and earshot encode differ"
step "   pushed = encoded ($(stat -c %s "$work/encoded.npy") bytes), status version $version, VAD on"
$SUDO kill -TERM "$daemon_pid" 2>/dev/null || true
wait "$daemon_pid" && code=0 || code=$?
daemon_pid=""
[ "$code" -eq 0 ] || fail "earshotd exited $code on SIGTERM: $(cat "$work/earshotd.log")"

step "6. systemd-analyze verify on the installed units"
systemd/verify.sh --installed /lib/systemd/system /usr/lib/systemd/user | sed 's/^/   /'

step "7. apt-get purge"
$SUDO apt-get purge -y -qq earshot >/dev/null
! dpkg-query -W earshot >/dev/null 2>&1 || [ "$(dpkg-query -W -f='${Status}' earshot)" = "unknown ok not-installed" ] \
    || fail "earshot is still known to dpkg: $(dpkg-query -W -f='${Status}' earshot)"
while read -r path; do
    case "$path" in
        /.|/|/etc|/lib|/lib/systemd|/lib/systemd/system|/usr|/usr/bin|/usr/lib|/usr/lib/systemd|/usr/lib/systemd/user|\
        /usr/lib/sysusers.d|/usr/share|/usr/share/doc|/usr/share/man|/usr/share/man/man1|/var|/var/lib) continue ;;
    esac
    [ ! -e "$path" ] || fail "$path is left after purge"
done < "$work/files.txt"
for path in /etc/earshot /usr/share/earshot /var/lib/earshot /usr/share/doc/earshot; do
    [ ! -e "$path" ] || fail "$path is left after purge"
done
step "   $(wc -l < "$work/files.txt") paths gone; the earshot user stays: $(getent passwd earshot | cut -d: -f1,3,6,7)"

step "8. make install PREFIX=/usr/local DESTDIR=$work/destdir"
make --no-print-directory install PREFIX=/usr/local DESTDIR="$work/destdir" >/dev/null
d="$work/destdir/usr/local"
for path in bin/earshot bin/earshotd share/earshot/silero-vad/silero_vad_16k_v6.safetensors \
            share/earshot/silero-vad/LICENSE share/man/man1/earshotd.1.gz share/man/man1/earshot.1.gz \
            etc/earshot/earshotd.conf lib/systemd/system/earshotd.service lib/systemd/system/earshotd.socket \
            lib/systemd/user/earshotd.service lib/sysusers.d/earshot.conf share/doc/earshot/copyright; do
    [ -e "$d/$path" ] || fail "make install did not write $d/$path"
done
grep -qx "ExecStart=/usr/local/bin/earshotd --config /usr/local/etc/earshot/earshotd.conf" \
    "$d/lib/systemd/system/earshotd.service" || fail "make install's unit: $(grep ExecStart "$d/lib/systemd/system/earshotd.service")"
got=$(env -i PATH=/usr/bin:/bin "$d/bin/earshotd" --version)
[ "$got" = "$expected" ] || fail "$d/bin/earshotd --version says '$got'"
env -i PATH=/usr/bin:/bin "$d/bin/earshot" vad --input "$work/clip.wav" > "$work/vad.jsonl" \
    || fail "the installed earshot vad did not find its weights under $d/share"
grep -q '"start"' "$work/vad.jsonl" || fail "earshot vad found no speech in $clip"
step "   layout, unit and VAD weights under $d"
step "passed in $((SECONDS - start)) s"
