#!/usr/bin/env bash
# A throwaway PulseAudio server for tests: no hardware, no D-Bus, nothing in $HOME.
#
#   ci/pulse-server.sh DIR RATE CHANNELS [WATCH_PID]
#
# Runs pulseaudio with its socket at DIR/native (PULSE_SERVER=unix:DIR/native), a null sink, and a pipe source
# named "src" that plays raw s16le RATE/CHANNELS frames written to DIR/src.fifo. Writes the server's pid to
# DIR/pid and its log to DIR/pulseaudio.log. Stays in the foreground until the server exits; SIGTERM stops the
# server. If WATCH_PID is given and that process goes away (a test runner that crashed or was killed), the
# server is stopped too, so no server outlives its test. With PULSE_SERVER_REMOVE_DIR=1 the script removes DIR
# when it stops the server (on SIGTERM or when WATCH_PID is gone), not when the server dies by itself.
set -u
# Close descriptors inherited from the test process (pipes it is using, say) beyond stdin, stdout and stderr.
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
done
dir=$1 rate=$2 channels=$3 watch=${4:-}
mkdir -p "$dir/run" "$dir/state" "$dir/config"
chmod 700 "$dir/run"
rm -f "$dir/native" "$dir/pid" "$dir/src.fifo"   # left by a killed server, they would block the new one
export XDG_RUNTIME_DIR="$dir/run" PULSE_RUNTIME_PATH="$dir/run" PULSE_STATE_PATH="$dir/state" \
       XDG_CONFIG_HOME="$dir/config" HOME="$dir"
pulseaudio -n --daemonize=no --use-pid-file=no --exit-idle-time=-1 --disallow-exit \
    --log-target=stderr --log-level=info \
    -L "module-native-protocol-unix socket=$dir/native auth-anonymous=1" \
    -L "module-null-sink sink_name=nullsink" \
    -L "module-pipe-source source_name=src file=$dir/src.fifo format=s16le rate=$rate channels=$channels" \
    >>"$dir/pulseaudio.log" 2>&1 </dev/null &
pa=$!
echo "$pa" >"$dir/pid"
stop() {
    kill -TERM "$pa" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pa" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pa" 2>/dev/null
}
cleanup() {
    if [ "${PULSE_SERVER_REMOVE_DIR:-0}" = 1 ]; then rm -rf "$dir"; fi
}
trap 'stop; cleanup; exit 0' TERM INT
while kill -0 "$pa" 2>/dev/null; do
    if [ -n "$watch" ] && ! kill -0 "$watch" 2>/dev/null; then
        stop
        cleanup
        exit 0
    fi
    sleep 0.2
done
wait "$pa" 2>/dev/null
exit 0
