#!/usr/bin/env python3
"""A complete Earshot protocol v1 client in one file: standard library only (numpy optional).

    python3 earshot_client.py listen [--socket PATH] [--stream mic] [--count N] [--speech events|only]
    python3 earshot_client.py push --socket PATH --input speech.wav [--output out.npy] [--events ev.jsonl]
    python3 earshot_client.py status [--socket PATH]

As a library:

    from earshot_client import EarshotClient
    with EarshotClient("/run/earshot/earshot.sock") as client:
        sub = client.subscribe("mic")
        for message in client.messages():
            if message.kind == "embedding":
                print(message.token, message.values[:4])

The wire format is docs/protocol.md: little-endian, frames are u32 length (type byte + body), a type byte, a body.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time
import wave

try:
    import numpy as np
except ImportError:  # numpy is optional: values come back as lists of floats without it
    np = None

MAGIC = b"EARS"
VERSION = 1

# Client -> server
HELLO, SUBSCRIBE, UNSUBSCRIBE, PUSH_START, PUSH_AUDIO, PUSH_END, PING, STATUS = range(1, 9)
# Server -> client
WELCOME, SUBSCRIBED, PUSH_STARTED, EMBEDDING, EVENT, ERROR, PONG, STATUS_REPORT = range(0x81, 0x89)

PAYLOADS = {"f32": 0, "f16": 1, "bf16": 2}
OUTPUTS = {"embeddings": 0, "encoder": 1}
PCM_FORMATS = {"s16le": 0, "s32le": 1, "f32le": 2}
EVENT_KINDS = {1: "overrun", 2: "deviceLost", 3: "deviceRestored", 4: "lagged", 5: "discontinuity", 6: "ended",
               7: "speechStart", 8: "speechEnd"}
FLAG_NAMES = {1: "discontinuity", 2: "silence", 4: "final", 8: "gapFilled", 16: "speech"}
# The optional trailing options byte of subscribe and pushStart (docs/protocol.md, "Voice activity"): none sends
# no byte (the layout every server parses); "events" adds speechStart/speechEnd; "only" sends only speech tokens.
SPEECH_OPTIONS = {"none": 0, "events": 1, "only": 2}


def default_socket_path():
    """Same rule as earshotd: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock."""
    if os.environ.get("EARSHOT_SOCKET"):
        return os.environ["EARSHOT_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if os.getuid() != 0 and runtime and os.path.exists(os.path.join(runtime, "earshot", "earshot.sock")):
        return os.path.join(runtime, "earshot", "earshot.sock")
    return "/run/earshot/earshot.sock"


class EarshotError(Exception):
    """An error frame from the server (code is its name in docs/protocol.md), or a broken connection."""

    CODES = {1: "malformed-frame", 2: "frame-too-large", 3: "unsupported-version", 4: "handshake-required",
             5: "unexpected-message", 6: "unknown-stream", 7: "too-many-clients", 8: "too-many-pushed-streams",
             9: "unsupported-payload", 10: "bad-audio-format", 11: "not-allowed", 12: "shutting-down",
             13: "internal-error", 14: "too-many-subscriptions", 15: "timed-out", 16: "voice-activity-off"}

    def __init__(self, message, code=None, fatal=True, request=0):
        super().__init__(f"server error {self.CODES.get(code, code)}: {message}" if code else message)
        self.code, self.fatal, self.request = code, fatal, request


class Message:
    """An embedding (kind == "embedding") or an event (kind == an event name, e.g. "ended", "lagged")."""

    def __init__(self, kind, **fields):
        self.kind = kind
        self.__dict__.update(fields)

    def __repr__(self):
        shown = {k: v for k, v in self.__dict__.items() if k != "values"}
        return f"Message({shown})"


def _string(text):
    data = text.encode("utf-8")[:65535]
    return struct.pack("<H", len(data)) + data


def _options(speech):
    """The trailing options byte, or nothing when no option is set."""
    bits = SPEECH_OPTIONS[speech]
    return struct.pack("<B", bits) if bits else b""


class _Reader:
    """Little-endian field reader over one frame body."""

    def __init__(self, body):
        self.body, self.at = body, 0

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.body, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string(self):
        n = self.take("H")
        text = self.body[self.at:self.at + n].decode("utf-8")
        self.at += n
        return text

    def rest(self):
        data = self.body[self.at:]
        self.at = len(self.body)
        return data


def _decode_values(data, payload, width):
    if payload == 0:
        if np is not None:
            return np.frombuffer(data, dtype="<f4", count=width).astype(np.float32)
        return list(struct.unpack(f"<{width}f", data))
    if payload == 1:
        if np is not None:
            return np.frombuffer(data, dtype="<f2", count=width).astype(np.float32)
        return list(struct.unpack(f"<{width}e", data))
    # bf16: the top half of a float32
    if np is not None:
        return (np.frombuffer(data, dtype="<u2", count=width).astype(np.uint32) << 16).view(np.float32)
    halves = struct.unpack(f"<{width}H", data)
    return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]


class EarshotClient:
    """One connection to earshotd. Not thread-safe, except that one thread may push (push_audio, end_push) while
    another reads (messages); pushing and reading must happen together, or they stall each other."""

    def __init__(self, path=None, client_name="earshot_client.py", timeout=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if timeout is not None:
            self.sock.settimeout(timeout)
        self.sock.connect(path or default_socket_path())
        self._buffer = bytearray()
        self._pending = []        # messages read while waiting for an answer
        self._next_request = 1
        self._send_lock = threading.Lock()
        self._send(HELLO, MAGIC + struct.pack("<HH", VERSION, VERSION) + _string(client_name))
        kind, body = self._read_frame()
        if kind == ERROR:
            raise self._error(body)
        if kind != WELCOME:
            raise EarshotError(f"expected welcome, got frame type {kind:#x}")
        self.server = self._parse_welcome(body)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    # -- requests --------------------------------------------------------------------------------------------------

    def subscribe(self, stream="mic", start="now", payload="f32", output="embeddings", speech="none"):
        """Subscribes to a live stream; returns {"id", "name", "first_token"}. start: "now" or "oldest".
        speech: "none", "events" (plus speechStart/speechEnd events) or "only" (speech tokens and the events)."""
        request = self._request_id()
        self._send(SUBSCRIBE, struct.pack("<I", request) + _string(stream)
                   + struct.pack("<BBB", 0 if start == "now" else 1, PAYLOADS[payload], OUTPUTS[output])
                   + _options(speech))
        r = _Reader(self._await_answer(SUBSCRIBED, request))
        _, sid = r.take("II")
        name = r.string()
        return {"id": sid, "name": name, "first_token": r.take("Q")}

    def start_push(self, sample_format="s16le", sample_rate=16000, channels=1, payload="f32",
                   output="embeddings", label="", speech="none"):
        """Opens a pushed stream; returns its id. speech as for subscribe."""
        request = self._request_id()
        self._send(PUSH_START, struct.pack("<IBIHBB", request, PCM_FORMATS[sample_format], sample_rate, channels,
                                           PAYLOADS[payload], OUTPUTS[output]) + _string(label) + _options(speech))
        r = _Reader(self._await_answer(PUSH_STARTED, request))
        return r.take("II")[1]

    def push_audio(self, stream_id, pcm, chunk_bytes=64000):
        """Sends raw PCM (whole frames) in the pushed stream's format. Blocks while the server applies backpressure."""
        for start in range(0, len(pcm), chunk_bytes):
            self._send(PUSH_AUDIO, struct.pack("<I", stream_id) + bytes(pcm[start:start + chunk_bytes]))

    def end_push(self, stream_id):
        """No more audio: the server flushes the stream, then sends an "ended" event."""
        self._send(PUSH_END, struct.pack("<I", stream_id))

    def status(self):
        """The server's status object (docs/protocol.md, "Status")."""
        request = self._request_id()
        self._send(STATUS, struct.pack("<I", request))
        body = self._await_answer(STATUS_REPORT, request)
        return json.loads(body[4:].decode("utf-8"))

    def ping(self):
        """Round-trip time in seconds."""
        nonce = int.from_bytes(os.urandom(8), "little")
        start = time.monotonic()
        self._send(PING, struct.pack("<Q", nonce))
        while True:
            kind, body = self._read_frame()
            if kind == PONG and struct.unpack_from("<Q", body)[0] == nonce:
                return time.monotonic() - start
            self._keep(kind, body)

    # -- the stream of embeddings and events -----------------------------------------------------------------------

    def messages(self):
        """Yields Message objects until the server closes the connection. A fatal error frame raises EarshotError."""
        while self._pending:
            yield self._pending.pop(0)
        while True:
            try:
                kind, body = self._read_frame()
            except EOFError:
                return
            message = self._parse_message(kind, body)
            if message is not None:
                yield message

    # -- plumbing --------------------------------------------------------------------------------------------------

    def _request_id(self):
        self._next_request += 1
        return self._next_request - 1

    def _send(self, kind, body):
        with self._send_lock:
            self.sock.sendall(struct.pack("<IB", 1 + len(body), kind) + body)

    def _read_exact(self, n):
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise EOFError("the server closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _read_frame(self):
        length = struct.unpack("<I", self._read_exact(4))[0]
        if length < 1 or length > 64 << 20:
            raise EarshotError(f"bad frame length {length}")
        frame = self._read_exact(length)
        return frame[0], frame[1:]

    def _await_answer(self, expected, request):
        """Reads until the answer to `request`, keeping other messages for messages()."""
        while True:
            kind, body = self._read_frame()
            if kind == expected and struct.unpack_from("<I", body)[0] == request:
                return body
            if kind == ERROR and struct.unpack_from("<I", body)[0] == request:
                raise self._error(body)
            self._keep(kind, body)

    def _keep(self, kind, body):
        message = self._parse_message(kind, body)
        if message is not None:
            self._pending.append(message)

    def _parse_message(self, kind, body):
        r = _Reader(body)
        if kind == EMBEDDING:
            stream, token, first_sample, capture_ns, flags, payload, output, width = r.take("IQqqHBBI")
            return Message("embedding", stream=stream, token=token, first_sample=first_sample,
                           capture_time_ns=capture_ns, flags=flags,
                           flag_names=[n for bit, n in FLAG_NAMES.items() if flags & bit],
                           output="embeddings" if output == 0 else "encoder",
                           values=_decode_values(r.rest(), payload, width))
        if kind == EVENT:
            stream, code, at, count = r.take("IBqQ")
            return Message(EVENT_KINDS.get(code, f"event-{code}"), stream=stream, at=at, count=count,
                           message=r.string())
        if kind == ERROR:
            error = self._error(body)
            if error.fatal:
                raise error
            return Message("error", stream=0, error=str(error))
        return None  # pong or a late answer: nothing for the caller

    @staticmethod
    def _error(body):
        r = _Reader(body)
        request, code, fatal = r.take("IHB")
        return EarshotError(r.string(), code=code, fatal=bool(fatal), request=request)

    @staticmethod
    def _parse_welcome(body):
        r = _Reader(body)
        info = {"version": r.take("H"), "server": r.string(), "model": r.string()}
        info["D"], info["P"], mask = r.take("IIB")
        info["payloads"] = [name for name, bit in PAYLOADS.items() if mask & (1 << bit)]
        info["sample_rate"], info["samples_per_token"], info["tokens_per_second"] = r.take("IIf")
        info["block_tokens"], info["max_frame_length"], info["max_pushed_streams"], info["history_tokens"] = \
            r.take("HIHI")
        info["streams"] = [r.string() for _ in range(r.take("H"))]
        return info


# -- command line --------------------------------------------------------------------------------------------------

def _read_wav(path):
    """(pcm bytes, sample format, rate, channels) for 16-bit or 32-bit PCM WAV files (the standard library's wave)."""
    with wave.open(path, "rb") as w:
        width = w.getsampwidth()
        if width not in (2, 4):
            raise SystemExit(f"{path}: {8 * width}-bit WAV: use 16- or 32-bit PCM (or `earshot push`)")
        return w.readframes(w.getnframes()), "s16le" if width == 2 else "s32le", w.getframerate(), w.getnchannels()


def _save_npy(path, rows, width):
    if np is not None:
        np.save(path, np.asarray(rows, dtype=np.float32).reshape(len(rows), width))
        return
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), width)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        for row in rows:
            f.write(struct.pack(f"<{width}f", *row))


def _listen(args):
    with EarshotClient(args.socket) as client:
        sub = client.subscribe(args.stream, start=args.start, payload=args.payload, speech=args.speech)
        print(f"# {client.server['server']} model={client.server['model']} D={client.server['D']} "
              f"stream={sub['name']} id={sub['id']}", file=sys.stderr)
        seen = 0
        for m in client.messages():
            if m.kind == "embedding":
                values = m.values
                norm = sum(float(v) * float(v) for v in values) ** 0.5
                latency = time.time() - m.capture_time_ns / 1e9 - 0.04
                print(json.dumps({"token": m.token, "time": m.first_sample / 16000, "latency": round(latency, 3),
                                  "norm": round(norm, 4), "flags": m.flag_names}), flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    return
            else:
                print(json.dumps({"event": m.kind, **{k: v for k, v in m.__dict__.items() if k != "kind"}}),
                      flush=True)
                if m.kind == "ended" and m.stream == sub["id"]:
                    return


def _push(args):
    pcm, sample_format, rate, channels = _read_wav(args.input)
    with EarshotClient(args.socket) as client:
        sid = client.start_push(sample_format, rate, channels, label=os.path.basename(args.input),
                                speech="events" if args.events else "none")
        # Push on a thread while this one reads: the server applies backpressure, so both must go on at once.
        sender = threading.Thread(target=lambda: (client.push_audio(sid, pcm), client.end_push(sid)), daemon=True)
        sender.start()
        rows, events = [], []
        for m in client.messages():
            if m.kind == "embedding" and m.stream == sid:
                rows.append(m.values)
            elif m.kind in ("speechStart", "speechEnd") and m.stream == sid:
                events.append(json.dumps({"start" if m.kind == "speechStart" else "end": m.at}))
            elif m.kind == "ended" and m.stream == sid:
                break
        sender.join()
        width = client.server["D"]
    print(f"{len(rows)} tokens", file=sys.stderr)
    if args.output:
        _save_npy(args.output, rows, width)
    if args.events:  # as `earshot vad` prints them: {"start": N} / {"end": N}
        with open(args.events, "w") as f:
            f.write("".join(line + "\n" for line in events))


def _status(args):
    with EarshotClient(args.socket) as client:
        print(json.dumps(client.status(), indent=2, sort_keys=True))


def main():
    parser = argparse.ArgumentParser(description="Earshot protocol v1 client (examples/python).")
    parser.add_argument("--socket", default=None, help="daemon socket (default: as earshotd)")
    commands = parser.add_subparsers(dest="command", required=True)
    listen = commands.add_parser("listen", help="print each token of a live stream as JSON")
    listen.add_argument("--stream", default="mic")
    listen.add_argument("--start", choices=["now", "oldest"], default="now")
    listen.add_argument("--payload", choices=list(PAYLOADS), default="f32")
    listen.add_argument("--count", type=int, default=0, help="stop after N tokens")
    listen.add_argument("--speech", choices=list(SPEECH_OPTIONS), default="none",
                        help="events: also speech start/end events; only: speech tokens and the events")
    push = commands.add_parser("push", help="encode a WAV file through the daemon")
    push.add_argument("--input", required=True)
    push.add_argument("--output", help="write the embeddings as .npy")
    push.add_argument("--events", help="write the speech events as JSON lines, as `earshot vad` prints them")
    commands.add_parser("status", help="print the server's status")
    args = parser.parse_args()
    try:
        {"listen": _listen, "push": _push, "status": _status}[args.command](args)
    except (EarshotError, OSError) as error:
        raise SystemExit(f"earshot_client.py: {error}")


if __name__ == "__main__":
    main()
