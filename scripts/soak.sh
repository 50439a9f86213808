#!/usr/bin/env bash
# Soak test for earshotd (not run in CI): does its memory stay flat under load?
#
#   scripts/soak.sh [SECONDS]        (default 3600: one accelerated hour)
#
# Runs earshotd on an E2B-size model with two live streams: "mic", fed from standard input as fast as the pipe takes
# it with `?realtime` delivery (the encoder runs flat out and the live-backlog policy drops what it cannot take,
# instead of making the writer wait as a stdin source does by default), and "room", a clip looped and paced in real
# time, which must lose nothing. Against them, all at once:
#   - LISTENERS clients subscribed to the live stream, reading and discarding;
#   - STALLED clients subscribed from `oldest` that never read a byte (the lag policy must skip them);
#   - one socket client and GRPC_PUSHERS gRPC clients pushing a 3 s clip back to back;
#   - IDLE bare TCP connections to the gRPC and metrics ports that never send a byte, reopened whenever the daemon
#     closes one (its handshake and idle deadlines must close them; its connection caps must hold);
#   - a Prometheus-like scrape every INTERVAL seconds over one keep-alive connection.
# VmRSS and open descriptors of earshotd are sampled every INTERVAL seconds into a CSV; at the end a summary compares
# RSS after the warm-up with RSS at the end, and reads the daemon's own status (audio lost, frames dropped, refusals).
#
# Environment:
#   EARSHOTD   earshotd to run (default .build/release/earshotd; built with `swift build -c release` if missing)
#   MODEL      default /tmp/e2b16/model if it exists (a bf16 E2B-size checkpoint), else random:e2b (real size,
#              random weights, ~1.2 GB)
#   OUT        output directory (default .build-soak/RUN-TIMESTAMP): rss.csv, summary.txt, earshotd.log
#   INTERVAL   seconds between RSS samples (default 5)
#   WARMUP     seconds before the baseline sample (default: a tenth of the run, at least 60, at most 600)
#   LISTENERS  subscribed clients (default 10)
#   STALLED    subscribed clients that never read (default 20)
#   GRPC_PUSHERS  gRPC clients pushing back to back (default 2; needs the Python client's grpc extra: grpcio, protobuf)
#   IDLE       idle TCP connections held open against the gRPC and the metrics port, each (default 50; one the
#              daemon closes is reopened within a second)
set -euo pipefail

cd "$(dirname "$0")/.."
duration=${1:-3600}
interval=${INTERVAL:-5}
listeners=${LISTENERS:-10}
stalled=${STALLED:-20}
grpc_pushers=${GRPC_PUSHERS:-2}
idle=${IDLE:-50}
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
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
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
' 2> /dev/null | "$earshotd" --model "$MODEL" --source "mic=stdin:s16le:16000:1?realtime" \
    --source "room=file:$clip?loop" --socket "$socket" --log-level notice \
    --grpc-address "127.0.0.1:$grpc_port" --metrics-address "127.0.0.1:$metrics_port" \
    > "$out/earshotd.log" 2>&1 &
daemon=$!   # the pipeline's last command: earshotd
for _ in $(seq 1 600); do
    [[ -S "$socket" ]] && break
    sleep 1
done
[[ -S "$socket" ]] || { echo "soak: earshotd did not start; see $out/earshotd.log" >&2; exit 1; }
echo "soak: earshotd pid $daemon, model $MODEL, $duration s, $listeners listeners, $stalled stalled subscribers," \
     "1 socket + $grpc_pushers gRPC pushers, $idle idle connections per TCP port; $out"

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
sys.path.insert(0, "clients/python")
from earshot import SocketClient
w = wave.open(sys.argv[2])
pcm, rate, channels = w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()
pushes = 0
while True:
    with SocketClient(sys.argv[1], client_name="soak pusher") as c:
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

# Stalled subscribers: subscribe from the oldest token in the history, then never read.
for _ in $(seq 1 "$stalled"); do
    python3 -u -c '
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
def frame(kind, body): return struct.pack("<IB", 1 + len(body), kind) + body
s.sendall(frame(1, b"EARS" + struct.pack("<HHH", 1, 1, 0)))
s.sendall(frame(2, struct.pack("<IH", 1, 3) + b"mic" + bytes([1, 0, 0])))
time.sleep(1e9)
' "$socket" 2>> "$out/stalled.log" &
    pids+=($!)
done

# gRPC pushers: the clip back to back, each push checked for a full set of tokens.
for n in $(seq 1 "$grpc_pushers"); do
    python3 -u -c '
import sys, wave
sys.path.insert(0, "clients/python")
import grpc
from earshot.grpc_stubs import earshot_pb2, earshot_pb2_grpc
w = wave.open(sys.argv[2])
pcm, rate, channels = w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()
def requests():
    yield earshot_pb2.PushRequest(start=earshot_pb2.PushStart(format=earshot_pb2.PCM_FORMAT_S16LE, sample_rate=rate,
        channels=channels, payload=earshot_pb2.PAYLOAD_F32, output=earshot_pb2.OUTPUT_EMBEDDINGS, label="soak-grpc"))
    for offset in range(0, len(pcm), 32000):
        yield earshot_pb2.PushRequest(audio=pcm[offset:offset + 32000])
pushes = failures = 0
with grpc.insecure_channel(sys.argv[1], options=[("grpc.max_receive_message_length", 16 << 20)]) as ch:
    stub = earshot_pb2_grpc.EarshotStub(ch)
    while True:
        try:
            tokens = sum(1 for r in stub.Push(requests()) if r.WhichOneof("response") == "token")
            pushes += 1
        except grpc.RpcError as error:
            failures += 1
            print("failure", error.code().name, error.details(), flush=True)
        if pushes % 10 == 0:
            print(pushes, flush=True)
' "127.0.0.1:$grpc_port" "$clip" > "$out/grpc-pushes-$n.log" 2>&1 &
    pids+=($!)
done

# Idle connections: bare TCP to the gRPC and metrics ports, never a byte sent; reopened when the daemon closes one.
python3 -u -c '
import selectors, socket, sys, time
ports, count = [int(p) for p in sys.argv[1:3]], int(sys.argv[3])
sel = selectors.DefaultSelector()
opened = closed = refused = 0
def open_one(port):
    global opened, refused
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        refused += 1
        return
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, port)
    opened += 1
for port in ports:
    for _ in range(count):
        open_one(port)
last = time.monotonic()
pending = []    # closed by the daemon: reopened once a second, so that a full listener is not hammered
while True:
    for key, _ in sel.select(timeout=1):
        s, port = key.fileobj, key.data
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            closed += 1
            pending.append(port)
    reopen, pending = pending, []
    for port in reopen:
        open_one(port)
    if time.monotonic() - last >= 10:
        last = time.monotonic()
        print(f"opened {opened} closed-by-daemon {closed} refused {refused}", flush=True)
' "$grpc_port" "$metrics_port" "$idle" > "$out/idle.log" 2>&1 &
pids+=($!)

# A Prometheus-like scraper: one keep-alive HTTP connection, a scrape every INTERVAL seconds, reconnecting on
# failure (while the idle connections hold the metrics listener's slots, a new connection may be refused).
python3 -u -c '
import http.client, sys, time
port, interval = int(sys.argv[1]), float(sys.argv[2])
conn, ok, failed = None, 0, 0
while True:
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"HTTP {response.status}")
        ok += 1
        with open(sys.argv[3], "wb") as f:
            f.write(body)
    except (OSError, http.client.HTTPException) as error:
        failed += 1
        print(f"scrape failed: {error}", flush=True)
        conn = None
    print(f"scrapes ok {ok} failed {failed}", flush=True)
    time.sleep(interval)
' "$metrics_port" "$interval" "$out/metrics.txt" > "$out/scrape.log" 2>&1 &
pids+=($!)

echo "seconds,rss_kib,fds,pushes" > "$out/rss.csv"
start=$(date +%s)
baseline=""
while true; do
    now=$(date +%s)
    elapsed=$(( now - start ))
    kill -0 "$daemon" 2>/dev/null || { echo "soak: earshotd exited; see $out/earshotd.log" >&2; exit 1; }
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status")
    fds=$(ls "/proc/$daemon/fd" 2>/dev/null | wc -l)
    pushes=$(tail -1 "$out/pushes.log" 2>/dev/null || true)
    echo "$elapsed,$rss,$fds,${pushes:-0}" >> "$out/rss.csv"
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
    echo "socket pushes completed: ${pushes:-0} (counted in tens)"
    for f in "$out"/grpc-pushes-*.log; do
        echo "gRPC pushes completed ($(basename "$f" .log)): $(grep -v failure "$f" | tail -1) (in tens)," \
             "failures: $(grep -c failure "$f" || true)"
    done
    echo "idle connections: $(tail -1 "$out/idle.log")"
    echo "descriptors: max $(awk -F, 'NR > 1 && $3 > m {m = $3} END {print m}' "$out/rss.csv")"
    echo "metrics scraper (one keep-alive connection): $(grep '^scrapes' "$out/scrape.log" | tail -1)"
    python3 -c '
import json, sys
sys.path.insert(0, "clients/python")
from earshot import SocketClient
with SocketClient(sys.argv[1], client_name="soak status", timeout=30) as c:
    s = c.status()
print("status:", json.dumps({k: s[k] for k in ("totals",) if k in s})[:2000])
for st in s.get("streams", []):
    if st.get("kind") == "live":
        print("live stream", st["name"], "tokens", st["tokens"], "overrun samples", st["overrunSamples"],
              "capture lost samples", st["captureLostSamples"])
' "$socket" || echo "status: unavailable"
} | tee "$out/summary.txt"
