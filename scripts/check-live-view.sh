#!/usr/bin/env bash
# The live view in a real browser (issue #23): starts earshotd from this checkout's build with the live view on, its
# live stream a speech file (6 s of silence first, so the page is open before speech starts), and checks with headless
# Chromium over its DevTools protocol (scripts/lib/live_view_check.py) that the page shows tokens arriving, that its
# voice-activity timeline equals `earshot vad` on the same file, and that it logs no error; and that the WebSocket
# feed's tokens, and those of the same file pushed over /v1/push/ws, equal `earshot encode` of it bit for bit. Saves
# a screenshot, then has the page push Chromium's fake microphone (make test runs it after the Swift tests).
#
#   [MODEL=DIR] [SCREENSHOT=PNG] scripts/check-live-view.sh [EARSHOT_BIN [SCREENSHOT]]
#   (defaults: the tiny Gemma 4 fixture, .build/debug, .build/live-view.png)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${EARSHOT_BIN:-$root/.build/debug}}
screenshot=${2:-${SCREENSHOT:-$root/.build/live-view.png}}
chromium=${CHROMIUM:-chromium}
command -v "$chromium" >/dev/null || { echo "check-live-view: $chromium is missing (scripts/install-deps.sh)" >&2; exit 1; }
model=${MODEL:-$root/Tests/Fixtures/models/tiny-f32}   # MODEL=Tests/Fixtures/echo/base: the same checks on Echo
scratch=$(mktemp -d /tmp/earshot-live-view-XXXXXX)
daemon=""
cleanup() {
    if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

sox "$root/Tests/Fixtures/vad/pauses/input.wav" "$scratch/live.wav" pad 6 0
"$bin/earshot" vad --input "$scratch/live.wav" >"$scratch/vad.jsonl"
"$bin/earshot" encode --model "$model" --input "$scratch/live.wav" --output "$scratch/encoded.npy" \
    --precision f32 >/dev/null 2>&1
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/earshotd" --model "$model" --precision f32 --source "live=file:$scratch/live.wav" \
    --socket "$scratch/d.sock" --http-address "127.0.0.1:$port" >"$scratch/earshotd.log" 2>&1 &
daemon=$!
for _ in $(seq 300); do
    if curl -sf "http://127.0.0.1:$port/v1/status" >/dev/null 2>&1; then break; fi
    kill -0 "$daemon" 2>/dev/null || { cat "$scratch/earshotd.log" >&2; exit 1; }
    sleep 0.1
done
if ! python3 "$root/scripts/lib/live_view_check.py" --http "127.0.0.1:$port" --stream live \
        --encoded "$scratch/encoded.npy" --vad "$scratch/vad.jsonl" --wav "$scratch/live.wav" --screenshot "$screenshot" --chromium "$chromium"; then
    echo "--- earshotd's log" >&2; tail -30 "$scratch/earshotd.log" >&2
    exit 1
fi
