#!/usr/bin/env bash
# Installs the Debian packages Earshot builds, tests and demos with. Idempotent; uses sudo when not root.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=(
    pkg-config
    libasound2-dev libpulse-dev libsamplerate0-dev libdnnl-dev libsndfile1-dev   # build: the C libraries
    alsa-utils pulseaudio sox espeak-ng                               # tests and demo: sound server, audio tools
    flac opus-tools lame vorbis-tools ffmpeg                          # tests: audio files made and decoded by others
    openssl                                                           # tests: the gRPC tests' certificates
    python3-venv                                                      # tests: the Python client's virtual environment
    chromium curl                                                     # tests: the live view in a real browser, and over TLS
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

# The Python client's dependencies (clients/python/pyproject.toml: numpy and the grpc extra) for the python3 that the
# Swift tests run the examples with, from the checkout (scripts/check-python-client.sh installs the package itself
# into a virtual environment). Checked by importing the generated stubs, which refuse runtimes older than they were
# generated for.
client="$(cd "$(dirname "$0")/.." && pwd)/clients/python"
if ! python3 -c "import sys; sys.path.insert(0, '$client'); import numpy, earshot.grpc_client" 2>/dev/null; then
    echo "install-deps: installing the Python client's dependencies (clients/python/pyproject.toml)"
    python3 -c "import tomllib; p = tomllib.load(open('$client/pyproject.toml', 'rb'))['project']
print('\n'.join(p['dependencies'] + p['optional-dependencies']['grpc']))" >"${TMPDIR:-/tmp}/earshot-client-requirements.txt"
    python3 -m pip install --quiet --disable-pip-version-check -r "${TMPDIR:-/tmp}/earshot-client-requirements.txt"
fi
