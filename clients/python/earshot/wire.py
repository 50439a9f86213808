"""The Unix-socket transport: docs/protocol.md (version 1) in Python, standard library and numpy only.

Little-endian throughout; a frame is a u32 length (type byte + body), a type byte, a body.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from typing import Dict, Iterator, List, Optional, Tuple

from . import types as t
from .audio import Audio, as_pcm

MAGIC = b"EARS"
VERSION = 1
# Client → server
HELLO, SUBSCRIBE, UNSUBSCRIBE, PUSH_START, PUSH_AUDIO, PUSH_END, PING, STATUS = range(1, 9)
# Server → client
WELCOME, SUBSCRIBED, PUSH_STARTED, EMBEDDING, EVENT, ERROR, PONG, STATUS_REPORT = range(0x81, 0x89)

PAYLOAD_CODES = {"f32": 0, "f16": 1, "bf16": 2}
STAGE_CODES = {"embeddings": 0, "encoder": 1}
PCM_CODES = {"s16le": 0, "s32le": 1, "f32le": 2}
# The optional trailing options byte of subscribe and pushStart ("Voice activity"): off sends no byte (the layout
# every server parses); all adds speechStart/speechEnd events; only sends only speech tokens and the events.
SPEECH_CODES = {"off": 0, "all": 1, "only": 2}
ERROR_CODES = {1: "malformed-frame", 2: "frame-too-large", 3: "unsupported-version", 4: "handshake-required",
               5: "unexpected-message", 6: "unknown-stream", 7: "too-many-clients", 8: "too-many-pushed-streams",
               9: "unsupported-payload", 10: "bad-audio-format", 11: "not-allowed", 12: "shutting-down",
               13: "internal-error", 14: "too-many-subscriptions", 15: "timed-out", 16: "voice-activity-off"}
MAX_FRAME = 64 << 20


def default_socket_path() -> str:
    """Same rule as earshotd: $EARSHOT_SOCKET, $XDG_RUNTIME_DIR/earshot/earshot.sock, /run/earshot/earshot.sock."""
    if os.environ.get("EARSHOT_SOCKET"):
        return os.environ["EARSHOT_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if os.getuid() != 0 and runtime and os.path.exists(os.path.join(runtime, "earshot", "earshot.sock")):
        return os.path.join(runtime, "earshot", "earshot.sock")
    return "/run/earshot/earshot.sock"


def _string(text: str) -> bytes:
    data = text.encode("utf-8")[:65535]
    return struct.pack("<H", len(data)) + data


def _options(speech: str) -> bytes:
    bits = SPEECH_CODES[speech]
    return struct.pack("<B", bits) if bits else b""


class _Reader:
    """Little-endian fields from one frame body."""

    def __init__(self, body: bytes) -> None:
        self.body, self.at = body, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.body, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        n = self.take("H")
        text = self.body[self.at:self.at + n].decode("utf-8")
        self.at += n
        return text

    def rest(self) -> bytes:
        data = self.body[self.at:]
        self.at = len(self.body)
        return data


class SocketClient:
    """One connection to earshotd's Unix socket. ``push``, ``subscribe`` and ``status`` are the API both transports
    share (see ``earshot.connect``); ``messages``, ``start_push``, ``push_audio`` and ``end_push`` are the protocol's
    own steps, for several streams on one connection.

    Not thread-safe, except that one thread may send (push_audio, end_push) while another reads (messages): the
    daemon applies backpressure to a pusher whose results are not being read, so both must go on at once."""

    def __init__(self, path: Optional[str] = None, client_name: str = "earshot-client",
                 timeout: Optional[float] = None) -> None:
        self.path = path or default_socket_path()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            self.sock.connect(self.path)
        except OSError as error:
            self.sock.close()
            raise t.EarshotError(f"{self.path}: {error.strerror or error}") from None
        self._buffer = bytearray()
        self._pending: List[t.Message] = []      # messages read while waiting for an answer
        self._next_request = 1
        self._send_lock = threading.Lock()
        self._stream_names: Dict[int, str] = {}
        self._send(HELLO, MAGIC + struct.pack("<HH", VERSION, VERSION) + _string(client_name))
        kind, body = self._read_frame()
        if kind == ERROR:
            raise self._error(body)
        if kind != WELCOME:
            raise t.EarshotError(f"expected welcome, got frame type {kind:#x}")
        #: What the daemon said at the handshake: model, D, P, payloads, sample rate, streams …
        self.server = self._parse_welcome(body)

    def __enter__(self) -> "SocketClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # -- the shared API --------------------------------------------------------------------------------------------

    def push(self, audio: Audio, *, stage: str = "embeddings", payload: str = "f32",
             speech_events: bool = False) -> t.PushResult:
        """Encodes ``audio`` (a WAV path or ``PCM``) as a private stream; returns every token and event."""
        pcm = as_pcm(audio)
        stream = self.start_push(pcm.sample_format, pcm.sample_rate, pcm.channels, stage=stage, payload=payload,
                                 label=pcm.label, speech="all" if speech_events else "off")
        result = t.PushResult(width=self.server["D"] if stage == "embeddings" else self.server["P"])
        failure: List[BaseException] = []

        def send() -> None:
            try:
                self.push_audio(stream, pcm.data, pcm.frame_bytes * 16000)
                self.end_push(stream)
            except BaseException as error:   # reported by the reading thread, which would otherwise wait forever
                failure.append(error)
                self.sock.shutdown(socket.SHUT_RDWR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            for message in self.messages():
                if message.stream != self._stream_names.get(stream):
                    continue
                if isinstance(message, t.Token):
                    result.tokens.append(message)
                else:
                    result.events.append(message)
                    if message.kind == "ended":
                        break
        finally:
            sender.join()
        if failure:
            raise t.EarshotError(f"sending audio: {failure[0]}")
        if not result.events or result.events[-1].kind != "ended":
            raise t.EarshotError("the daemon closed the connection before the stream ended")
        return result

    def subscribe(self, stream: str = "mic", *, start: str = "now", stage: str = "embeddings",
                  payload: str = "f32", speech: str = "off") -> Iterator[t.Message]:
        """Follows a live stream: its tokens and events until it ends (or the caller stops iterating).
        start: now or oldest; speech: off, all (tokens and speech events) or only (speech tokens and the events)."""
        t.check_choice("start", start, t.STARTS)
        t.check_choice("stage", stage, t.STAGES)
        t.check_choice("payload", payload, t.PAYLOADS)
        t.check_choice("speech", speech, t.SPEECH)
        request = self._request_id()
        self._send(SUBSCRIBE, struct.pack("<I", request) + _string(stream)
                   + struct.pack("<BBB", t.STARTS.index(start), PAYLOAD_CODES[payload], STAGE_CODES[stage])
                   + _options(speech))
        r = _Reader(self._await_answer(SUBSCRIBED, request))
        _, sid = r.take("II")
        self._stream_names[sid] = r.string()
        return self._follow(sid)

    def status(self) -> dict:
        """The daemon's status object (docs/protocol.md, "Status")."""
        request = self._request_id()
        self._send(STATUS, struct.pack("<I", request))
        body = self._await_answer(STATUS_REPORT, request)
        return json.loads(body[4:].decode("utf-8"))

    # -- the protocol's own steps ----------------------------------------------------------------------------------

    def ping(self) -> float:
        """Round-trip time in seconds."""
        nonce = int.from_bytes(os.urandom(8), "little")
        started = time.monotonic()
        self._send(PING, struct.pack("<Q", nonce))
        while True:
            kind, body = self._read_frame()
            if kind == PONG and struct.unpack_from("<Q", body)[0] == nonce:
                return time.monotonic() - started
            self._keep(kind, body)

    def start_push(self, sample_format: str = "s16le", sample_rate: int = 16000, channels: int = 1, *,
                   stage: str = "embeddings", payload: str = "f32", label: str = "", speech: str = "off") -> int:
        """Opens a pushed stream; returns its id."""
        t.check_choice("sample_format", sample_format, t.SAMPLE_FORMATS)
        t.check_choice("stage", stage, t.STAGES)
        t.check_choice("payload", payload, t.PAYLOADS)
        t.check_choice("speech", speech, t.SPEECH)
        request = self._request_id()
        self._send(PUSH_START, struct.pack("<IBIHBB", request, PCM_CODES[sample_format], sample_rate, channels,
                                           PAYLOAD_CODES[payload], STAGE_CODES[stage]) + _string(label)
                   + _options(speech))
        r = _Reader(self._await_answer(PUSH_STARTED, request))
        _, sid = r.take("II")
        self._stream_names[sid] = f"{label or 'push'}#{sid}"   # unique on this connection, as labels need not be
        return sid

    def push_audio(self, stream_id: int, pcm: bytes, chunk_bytes: int = 64000) -> None:
        """Sends raw PCM (whole frames) in the pushed stream's format. Blocks while the daemon applies backpressure."""
        for offset in range(0, len(pcm), chunk_bytes):
            self._send(PUSH_AUDIO, struct.pack("<I", stream_id) + bytes(pcm[offset:offset + chunk_bytes]))

    def end_push(self, stream_id: int) -> None:
        """No more audio: the daemon flushes the stream, then sends an ``ended`` event."""
        self._send(PUSH_END, struct.pack("<I", stream_id))

    def messages(self) -> Iterator[t.Message]:
        """Every token and event of every stream on this connection, until the daemon closes it. A fatal error
        frame raises EarshotError; a non-fatal one is an Event of kind ``error``."""
        while True:
            while self._pending:
                yield self._pending.pop(0)
            try:
                kind, body = self._read_frame()
            except EOFError:
                return
            message = self._parse_message(kind, body)
            if message is not None:
                yield message

    # -- plumbing --------------------------------------------------------------------------------------------------

    def _follow(self, sid: int) -> Iterator[t.Message]:
        name = self._stream_names[sid]
        for message in self.messages():
            if message.stream != name:
                continue
            yield message
            if isinstance(message, t.Event) and message.kind == "ended":
                return

    def _request_id(self) -> int:
        self._next_request += 1
        return self._next_request - 1

    def _send(self, kind: int, body: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(struct.pack("<IB", 1 + len(body), kind) + body)

    def _read_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise EOFError("the daemon closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _read_frame(self) -> Tuple[int, bytes]:
        length = struct.unpack("<I", self._read_exact(4))[0]
        if length < 1 or length > MAX_FRAME:
            raise t.EarshotError(f"bad frame length {length}")
        frame = self._read_exact(length)
        return frame[0], frame[1:]

    def _await_answer(self, expected: int, request: int) -> bytes:
        """Reads until the answer to ``request``, keeping other messages for messages()."""
        while True:
            try:
                kind, body = self._read_frame()
            except EOFError:
                raise t.EarshotError("the daemon closed the connection") from None
            if kind == expected and struct.unpack_from("<I", body)[0] == request:
                return body
            if kind == ERROR and struct.unpack_from("<I", body)[0] == request:
                raise self._error(body)
            self._keep(kind, body)

    def _keep(self, kind: int, body: bytes) -> None:
        message = self._parse_message(kind, body)
        if message is not None:
            self._pending.append(message)

    def _name(self, sid: int) -> str:
        return self._stream_names.get(sid, f"stream-{sid}")

    def _parse_message(self, kind: int, body: bytes) -> Optional[t.Message]:
        r = _Reader(body)
        if kind == EMBEDDING:
            sid, index, first_sample, capture_ns, flags, payload, output, width = r.take("IQqqHBBI")
            return t.Token(self._name(sid), index, first_sample, capture_ns, flags, t.STAGES[output],
                           t.decode_values(r.rest(), t.PAYLOADS[payload], width), self.server["samples_per_token"])
        if kind == EVENT:
            sid, code, at, count = r.take("IBqQ")
            return t.Event(self._name(sid), t.EVENT_KINDS.get(code, f"event-{code}"), at, count, r.string())
        if kind == ERROR:
            error = self._error(body)
            if error.fatal:
                raise error
            return t.Event("", "error", 0, 0, str(error))
        return None  # a pong or a late answer: nothing for the caller

    @staticmethod
    def _error(body: bytes) -> t.EarshotError:
        r = _Reader(body)
        _, code, fatal = r.take("IHB")
        return t.EarshotError(r.string(), code=ERROR_CODES.get(code, str(code)), fatal=bool(fatal))

    @staticmethod
    def _parse_welcome(body: bytes) -> dict:
        r = _Reader(body)
        info: dict = {"version": r.take("H"), "server": r.string(), "model": r.string()}
        info["D"], info["P"], mask = r.take("IIB")
        info["payloads"] = [name for name, bit in PAYLOAD_CODES.items() if mask & (1 << bit)]
        info["sample_rate"], info["samples_per_token"], info["tokens_per_second"] = r.take("IIf")
        info["block_tokens"], info["max_frame_length"], info["max_pushed_streams"], info["history_tokens"] = \
            r.take("HIHI")
        info["streams"] = [r.string() for _ in range(r.take("H"))]
        return info
