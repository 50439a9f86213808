#!/usr/bin/env bash
# Installs the Debian packages Earshot builds, tests and demos with. Idempotent; uses sudo when not root.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=(
    pkg-config
    libasound2-dev libpulse-dev libsamplerate0-dev libdnnl-dev                   # build: the C libraries
    alsa-utils pulseaudio sox espeak-ng                               # tests and demo: sound server, audio tools
    openssl                                                           # tests: the gRPC tests' certificates
    dpkg-dev lintian systemd                                          # make deb and its check: shlibdeps, lint, units
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# promtool (from Debian's prometheus package) lints the metrics exposition in the tests. Only the tool is unpacked:
# installing the package would also start a Prometheus server.
if ! command -v promtool >/dev/null; then
    echo "install-deps: unpacking promtool from Debian's prometheus package"
    work=$(mktemp -d)
    (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download -qq prometheus; })
    dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
    $SUDO install -m 755 "$work/root/usr/bin/promtool" /usr/local/bin/promtool
    rm -rf "$work"
fi

# The gRPC example's Python packages (examples/python/requirements-grpc.txt): EarshotGRPCTests runs it against a live
# server. Checked by importing the generated stubs, which refuse runtimes older than they were generated for.
stubs="$(cd "$(dirname "$0")/.." && pwd)/examples/python"
if ! python3 -c "import sys; sys.path.insert(0, '$stubs'); import numpy, earshot_grpc.earshot_pb2_grpc" 2>/dev/null; then
    echo "install-deps: installing examples/python/requirements-grpc.txt"
    python3 -m pip install --quiet --disable-pip-version-check -r "$stubs/requirements-grpc.txt"
fi
