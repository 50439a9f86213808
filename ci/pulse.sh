# Source this file for a throwaway PulseAudio server in a shell or CI job (see ci/pulse-server.sh):
#
#   . ci/pulse.sh; trap pa_down EXIT; pa_up 16000 1
#   earshot capture --source pulse:src --seconds 2 --output out.wav &   # the recorder connects first
#   sleep 0.5; cat speech16k.raw > "$PA_FIFO"; wait
#
# pa_up [RATE] [CHANNELS] exports PULSE_SERVER, PA_DIR, PA_FIFO and PA_WRAPPER_PID and waits (at most 10 s)
# until the server answers. pa_down stops it (TERM, then KILL after 5 s) and removes PA_DIR.
_pa_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pa_up() {
    local rate=${1:-16000} channels=${2:-1} i=0
    PA_DIR=$(mktemp -d /tmp/earshot-pa-XXXXXX)
    "$_pa_here/pulse-server.sh" "$PA_DIR" "$rate" "$channels" "$$" &
    PA_WRAPPER_PID=$!
    export PA_DIR PA_WRAPPER_PID PULSE_SERVER="unix:$PA_DIR/native" PA_FIFO="$PA_DIR/src.fifo"
    until [ -S "$PA_DIR/native" ] && pactl info >/dev/null 2>&1; do
        if ! kill -0 "$PA_WRAPPER_PID" 2>/dev/null; then
            echo "pa_up: pulseaudio exited:" >&2; cat "$PA_DIR/pulseaudio.log" >&2; return 1
        fi
        i=$((i + 1))
        if [ "$i" -gt 100 ]; then
            echo "pa_up: pulseaudio did not answer within 10 s:" >&2; cat "$PA_DIR/pulseaudio.log" >&2; pa_down; return 1
        fi
        sleep 0.1
    done
}

pa_down() {
    [ -n "${PA_WRAPPER_PID:-}" ] || return 0
    kill -TERM "$PA_WRAPPER_PID" 2>/dev/null
    for _ in $(seq 70); do kill -0 "$PA_WRAPPER_PID" 2>/dev/null || break; sleep 0.1; done
    [ -f "$PA_DIR/pid" ] && kill -KILL "$(cat "$PA_DIR/pid")" 2>/dev/null
    kill -KILL "$PA_WRAPPER_PID" 2>/dev/null
    wait "$PA_WRAPPER_PID" 2>/dev/null
    rm -rf "$PA_DIR"
    unset PA_WRAPPER_PID PULSE_SERVER PA_FIFO PA_DIR
}
