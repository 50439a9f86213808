#!/usr/bin/env bash
# The daemon half of `make demo`: start earshotd, then watch its live stream through `earshot listen`.
#
#   scripts/daemon-demo.sh MODEL [CLIP.wav]
#
# MODEL is a Hugging Face Gemma 4 directory, an mmproj GGUF, random:e2b (real size, deterministic RANDOM
# weights), or Echo: random:echo or an Echo directory (docs/echo.md). The source is, in order: $EARSHOT_SOURCE if set; the default PulseAudio/PipeWire source if a server
# answers; the default ALSA capture device if one exists; else CLIP played in real time through the file source.
# A microphone runs for $EARSHOT_DEMO_SECONDS (default 15); a clip runs to its end. Binaries come from
# $EARSHOT_BIN (default .build/release). The live view (a web page of the same stream) is served on
# $EARSHOT_HTTP_ADDRESS (default 127.0.0.1:8023, or a free port if that one is taken); its URL is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/daemon-demo.sh MODEL [CLIP.wav]}
clip=${2:-}
bin=${EARSHOT_BIN:-.build/release}
seconds=${EARSHOT_DEMO_SECONDS:-15}
work=$(mktemp -d /tmp/earshot-demo-XXXXXX)
socket="$work/earshot.sock"
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# How the model's tokens leave: Gemma 4 in 12-token blocks; Echo (not causal) a whole window at a time.
if [[ "$model" == random:echo ]] || grep -qs '"echo"' "$model/earshot-model.json"; then
    pace="Echo: a token per 10 ms frame; a window's tokens leave once the window (15 s at the seed's size) is complete"
else
    pace="a token per 40 ms of audio, in 12-token blocks (480 ms)"
fi

if [[ "$model" == random:* ]]; then
    cat <<'NOTE'
earshot demo: the model has REAL-SIZE, DETERMINISTIC RANDOM WEIGHTS. Its embeddings cost what real ones cost and
              MEAN NOTHING. To hear with real weights, pass a Gemma 4 checkpoint (Hugging Face google/gemma-4-E2B-it
              directory, or a llama.cpp mmproj GGUF):
                  EARSHOT_MODEL=/path/to/gemma-4-E2B-it make demo
NOTE
fi

# Pick the source.
live=no
if [ -n "${EARSHOT_SOURCE:-}" ]; then
    source_spec=$EARSHOT_SOURCE
    [[ "$source_spec" == file:* ]] || live=yes
elif command -v pactl >/dev/null && timeout 2 pactl info >/dev/null 2>&1; then
    source_spec="pulse:"; live=yes
elif command -v arecord >/dev/null && arecord -l 2>/dev/null | grep -q '^card'; then
    source_spec="alsa:default"; live=yes
elif [ -n "$clip" ]; then
    source_spec="file:$clip"
else
    echo "earshot demo: no microphone found and no clip given" >&2
    exit 1
fi

http=${EARSHOT_HTTP_ADDRESS:-}
if [ -z "$http" ]; then
    http=127.0.0.1:$(python3 -c 'import socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", 8023))
except OSError:
    s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
fi

echo "earshot demo: starting earshotd (model $model, source $source_spec; $pace)"
"$bin/earshotd" --model "$model" --source "$source_spec" --socket "$socket" --log-level warning \
    --http-address "$http" \
    2> >(sed 's/^/  earshotd: /' >&2) &
daemon_pid=$!

# Wait for the socket (the model loads first: a real-size model takes a few seconds).
for _ in $(seq 1 600); do
    if "$bin/earshot" status --socket "$socket" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        echo "earshot demo: earshotd did not start" >&2
        exit 1
    fi
    sleep 0.2
done
"$bin/earshot" status --socket "$socket" | sed 's/^/  /'
echo
echo "earshot demo: live view (spectrogram, tokens, voice activity, load) at http://$http/ — open it in a browser"
echo
if [ "$live" = yes ]; then
    echo "earshot demo: speak now; following the live stream for $seconds s (latency = now − end of the token's audio)"
    timeout --signal=INT "$seconds" "$bin/earshot" listen --socket "$socket" --format view || true
else
    echo "earshot demo: the clip plays in real time ($pace;"
    echo "              latency = now − end of the token's audio)"
    "$bin/earshot" listen --socket "$socket" --format view --start oldest
fi
echo
start=$(date +%s.%N)
kill -TERM "$daemon_pid"
wait "$daemon_pid" && code=0 || code=$?
daemon_pid=
printf 'earshot demo: earshotd stopped on SIGTERM in %.2f s (exit %d)\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$code"
if [[ "$model" == random:* ]]; then
    echo "earshot demo: reminder: random weights, meaningless embeddings. Real ones: EARSHOT_MODEL=/path/to/gemma-4-E2B-it make demo"
fi
