#!/usr/bin/env bash
# The Python client package (clients/python): installs it with its gRPC and test extras into a fresh virtual
# environment, runs its pytest suite against a live earshotd from this checkout's build, and builds its wheel and
# sdist into .build/python-dist (make test runs it after the Swift tests).
#
#   scripts/check-python-client.sh [EARSHOT_BIN]      (default .build/debug: earshotd and earshot)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export EARSHOT_BIN=${1:-${EARSHOT_BIN:-$root/.build/debug}}
PYTHON=${PYTHON:-python3}
venv=$(mktemp -d /tmp/earshot-python-client-XXXXXX)
trap 'rm -rf "$venv"' EXIT
"$PYTHON" -m venv "$venv"
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install "$root/clients/python[grpc,test]" build
# From the tests folder, so that `import earshot` is the installed package, not the source tree.
(cd "$root/clients/python/tests" && PATH="$venv/bin:$PATH" "$venv/bin/pytest" -q -p no:cacheprovider .)
rm -rf "$root/.build/python-dist"
"$venv/bin/python" -m build --outdir "$root/.build/python-dist" "$root/clients/python" >/dev/null
ls "$root/.build/python-dist"
