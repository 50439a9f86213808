#!/usr/bin/env python3
"""Opens and closes connections to a running earshotd in rounds and prints its resident memory after each round: a
daemon that keeps something per connection grows linearly; one that does not levels off after the first round.

    python3 tools/bench/connection-churn.py --pid PID --tcp 127.0.0.1:50051      # bare TCP (the gRPC port)
    python3 tools/bench/connection-churn.py --pid PID --http 127.0.0.1:9464      # GET /metrics, Connection: close
    python3 tools/bench/connection-churn.py --pid PID --unix /run/earshot/earshot.sock
    [--rounds 8] [--per-round 2000]

With heaptrack (`heaptrack earshotd …`, stop it with SIGTERM, `heaptrack_print --print-leaks 1 FILE`), a count of
leaked allocations equal to the connections made names what is kept.
"""
import argparse
import socket
import time


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, required=True, help="earshotd's process id")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--tcp", help="HOST:PORT: connect and close at once")
    target.add_argument("--http", help="HOST:PORT: one GET /metrics per connection")
    target.add_argument("--unix", help="PATH: connect to the socket and close at once")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=2000)
    args = parser.parse_args()

    def connect_once() -> None:
        if args.unix:
            s = socket.socket(socket.AF_UNIX)
            s.connect(args.unix)
        else:
            s = socket.create_connection(host_port(args.tcp or args.http))
            if args.http:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: earshot\r\nConnection: close\r\n\r\n")
                while s.recv(65536):
                    pass
        s.close()

    base = rss_kib(args.pid)
    for r in range(1, args.rounds + 1):
        for _ in range(args.per_round):
            connect_once()
        time.sleep(1.0)   # let the daemon finish closing them
        now = rss_kib(args.pid)
        print(f"round {r}: {r * args.per_round} connections, RSS {now} KiB ({now - base:+d})", flush=True)


if __name__ == "__main__":
    main()
