"""Memory of pushed audio (issue #19): pushes s16 audio to a running earshotd in chunks of CHUNK_BYTES at RATE Hz,
STREAMS pushed streams on each of CONNECTIONS connections, reading every token, and prints the daemon's VmHWM and
VmRSS (from /proc/PID/status) before and after. docs/daemon.md ("Queue policies") has the numbers.

usage: push-memory.py SOCKET PID RATE CHUNK_BYTES SECONDS [STREAMS CONNECTIONS]
  e.g. earshotd --model Tests/Fixtures/models/tiny-f32 --source none --socket /tmp/e.sock --no-vad &
       python3 tools/bench/push-memory.py /tmp/e.sock $! 1000 1048560 524
"""
import array
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python"))
import earshot_client  # noqa: E402


def memory(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(("VmHWM", "VmRSS")):
            print(line.strip(), flush=True)


def push_all(path, pcm, rate, chunk, streams):
    """One connection: `streams` pushed streams, fed chunk by chunk in turn, every token read."""
    client = earshot_client.EarshotClient(path)
    ids = [client.start_push(sample_rate=rate) for _ in range(streams)]

    def read():
        ended = 0
        for message in client.messages():
            if message.kind == "ended":
                ended += 1
                if ended == streams:
                    return

    reader = threading.Thread(target=read)
    reader.start()
    for offset in range(0, len(pcm), chunk):
        for stream in ids:
            client.push_audio(stream, pcm[offset:offset + chunk], chunk_bytes=chunk)
    for stream in ids:
        client.end_push(stream)
    reader.join()


def main():
    path, pid = sys.argv[1], int(sys.argv[2])
    rate, chunk, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    streams = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    connections = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    # A 220 Hz tone, gated on and off, as s16.
    pcm = array.array("h", (int(8000 * math.sin(2 * math.pi * 220 * k / rate) * (k % 997 > 400))
                            for k in range(int(rate * seconds)))).tobytes()
    memory(pid)
    threads = [threading.Thread(target=push_all, args=(path, pcm, rate, chunk, streams)) for _ in range(connections)]
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"pushed {connections}x{streams} streams of {len(pcm)} bytes at {rate} Hz in {time.time() - began:.1f} s")
    memory(pid)


if __name__ == "__main__":
    main()
