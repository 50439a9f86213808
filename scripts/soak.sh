#!/usr/bin/env bash
# Soak test for earshotd (not run in CI): does its memory stay flat under load?
#
#   scripts/soak.sh [SECONDS]        (default 3600: one accelerated hour)
#
# Runs earshotd on an E2B-size model with one live stream fed from standard input as fast as the pipe takes it
# (no real-time pacing, and `?realtime` delivery: the encoder runs flat out and the live-backlog policy drops what
# it cannot take, instead of making the writer wait as a stdin source does by default), 10
# listeners subscribed to it, and one client pushing a 3 s clip back to back. VmRSS of earshotd is sampled every
# INTERVAL seconds into a CSV; at the end a summary compares RSS after the warm-up with RSS at the end.
#
# Environment:
#   EARSHOTD   earshotd to run (default .build/release/earshotd; built with `swift build -c release` if missing)
#   MODEL      default /tmp/e2b16/model if it exists (a bf16 E2B-size checkpoint), else random:e2b (real size,
#              random weights, ~1.2 GB)
#   OUT        output directory (default .build-soak/RUN-TIMESTAMP): rss.csv, summary.txt, earshotd.log
#   INTERVAL   seconds between RSS samples (default 5)
#   WARMUP     seconds before the baseline sample (default: a tenth of the run, at least 60, at most 600)
#   LISTENERS  subscribed clients (default 10)
set -euo pipefail

cd "$(dirname "$0")/.."
duration=${1:-3600}
interval=${INTERVAL:-5}
listeners=${LISTENERS:-10}
warmup=${WARMUP:-$(( duration / 10 < 60 ? 60 : (duration / 10 > 600 ? 600 : duration / 10) ))}
if [[ -z "${MODEL:-}" ]]; then
    if [[ -f /tmp/e2b16/model/config.json ]]; then MODEL=/tmp/e2b16/model; else MODEL=random:e2b; fi
fi
earshotd=${EARSHOTD:-.build/release/earshotd}
if [[ ! -x "$earshotd" ]]; then
    swift build -c release --product earshotd
fi
out=${OUT:-.build-soak/run-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
socket=$(mktemp -u /tmp/earshot-soak-XXXXXX.sock)
clip=Tests/Fixtures/cases/speech/input.wav
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -n "${daemon:-}" ]]; then
        kill -TERM "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    rm -f "$socket"
}
trap cleanup EXIT

# The live stream: a 16 kHz sine with a slow sweep, as fast as earshotd reads it.
python3 -u -c '
import math, struct, sys
out = sys.stdout.buffer
phase, n = 0.0, 0
while True:
    block = bytearray()
    for _ in range(16000):
        phase += 2 * math.pi * (300 + 200 * math.sin(n / 80000)) / 16000
        block += struct.pack("<h", int(6000 * math.sin(phase)))
        n += 1
    out.write(block)
' 2> /dev/null | "$earshotd" --model "$MODEL" --source "stdin:s16le:16000:1?realtime" --socket "$socket" --log-level notice \
    > "$out/earshotd.log" 2>&1 &
daemon=$!   # the pipeline's last command: earshotd
for _ in $(seq 1 600); do
    [[ -S "$socket" ]] && break
    sleep 1
done
[[ -S "$socket" ]] || { echo "soak: earshotd did not start; see $out/earshotd.log" >&2; exit 1; }
echo "soak: earshotd pid $daemon, model $MODEL, $duration s, $listeners listeners + a back-to-back pusher; $out"

# Listeners: hello, subscribe to "mic", then read and discard (cheap: the daemon, not Python, is under test).
for _ in $(seq 1 "$listeners"); do
    python3 -u -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def frame(kind, body): return struct.pack("<IB", 1 + len(body), kind) + body
s.sendall(frame(1, b"EARS" + struct.pack("<HHH", 1, 1, 0)))
s.sendall(frame(2, struct.pack("<IH", 1, 3) + b"mic" + bytes([0, 0, 0])))
while s.recv(1 << 20):
    pass
' "$socket" 2>> "$out/listeners.log" &
    pids+=($!)
done
python3 -u -c '
import sys, wave
sys.path.insert(0, "examples/python")
from earshot_client import EarshotClient
w = wave.open(sys.argv[2])
pcm, rate, channels = w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()
pushes = 0
while True:
    with EarshotClient(sys.argv[1], client_name="soak pusher") as c:
        sid = c.start_push(sample_rate=rate, channels=channels)
        c.push_audio(sid, pcm)
        c.end_push(sid)
        for m in c.messages():
            if m.kind == "ended":
                break
    pushes += 1
    if pushes % 10 == 0:
        print(pushes, flush=True)
' "$socket" "$clip" > "$out/pushes.log" 2>&1 &
pids+=($!)

echo "seconds,rss_kib,pushes" > "$out/rss.csv"
start=$(date +%s)
baseline=""
while true; do
    now=$(date +%s)
    elapsed=$(( now - start ))
    kill -0 "$daemon" 2>/dev/null || { echo "soak: earshotd exited; see $out/earshotd.log" >&2; exit 1; }
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status")
    pushes=$(tail -1 "$out/pushes.log" 2>/dev/null || true)
    echo "$elapsed,$rss,${pushes:-0}" >> "$out/rss.csv"
    if [[ -z "$baseline" && $elapsed -ge $warmup ]]; then baseline=$rss; baseline_at=$elapsed; fi
    (( elapsed >= duration )) && break
    sleep "$interval"
done

end_rss=$rss
peak=$(awk -F, -v w="$warmup" 'NR > 1 && $1 >= w && $2 > m {m = $2} END {print m}' "$out/rss.csv")
change=$(awk -v a="$baseline" -v b="$end_rss" 'BEGIN {printf "%+.2f", (b - a) * 100 / a}')
{
    echo "earshotd soak: $MODEL, ${duration} s, $listeners listeners, back-to-back pushes of $clip"
    echo "RSS after warm-up (t = ${baseline_at} s): $baseline KiB"
    echo "RSS at the end (t = ${elapsed} s): $end_rss KiB"
    echo "change: $change %   peak after warm-up: $peak KiB"
    echo "pushes completed: ${pushes:-0} (counted in tens)"
} | tee "$out/summary.txt"
