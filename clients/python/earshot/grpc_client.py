"""The gRPC transport (proto/earshot/v1/earshot.proto), with the same API as the socket client.

Needs the package's grpc extra: ``pip install "earshot-client[grpc]"``.
"""

from __future__ import annotations

import json
from typing import Iterator, List, Optional, Tuple

try:
    import grpc
    from .grpc_stubs import earshot_pb2 as pb
    from .grpc_stubs import earshot_pb2_grpc as pb_grpc
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(f"gRPC needs the grpc extra: pip install 'earshot-client[grpc]' ({error})") from None

from . import types as t
from .audio import PCM, Audio, as_pcm

_PAYLOADS = {"f32": pb.PAYLOAD_F32, "f16": pb.PAYLOAD_F16, "bf16": pb.PAYLOAD_BF16}
_PAYLOAD_NAMES = {v: k for k, v in _PAYLOADS.items()}
_STAGES = {"embeddings": pb.OUTPUT_EMBEDDINGS, "encoder": pb.OUTPUT_ENCODER}
_STAGE_NAMES = {v: k for k, v in _STAGES.items()}
_FORMATS = {"s16le": pb.PCM_FORMAT_S16LE, "s32le": pb.PCM_FORMAT_S32LE, "f32le": pb.PCM_FORMAT_F32LE}
_CHUNK_FRAMES = 16000


class GRPCClient:
    """A channel to earshotd's gRPC service (``earshotd --grpc-address``): ``push``, ``subscribe`` and ``status``
    as on ``SocketClient``. TLS when ``tls`` is true or a CA or client certificate is given (``tls_cert`` and
    ``tls_key`` together: mutual TLS); ``bearer_token`` is sent as a bearer token. The old names ``ca``, ``cert``,
    ``key`` and ``token`` still work, with a DeprecationWarning."""

    def __init__(self, address: str, *, tls: bool = False, tls_ca: Optional[str] = None,
                 tls_cert: Optional[str] = None, tls_key: Optional[str] = None, bearer_token: Optional[str] = None,
                 server_name: Optional[str] = None, **deprecated: Optional[str]) -> None:
        if deprecated:
            given = t.renamed_kwargs("GRPCClient", t.RENAMED_TLS_KWARGS, deprecated,
                                     {"tls_ca": tls_ca, "tls_cert": tls_cert, "tls_key": tls_key,
                                      "bearer_token": bearer_token})
            tls_ca, tls_cert, tls_key, bearer_token = (given["tls_ca"], given["tls_cert"], given["tls_key"],
                                                       given["bearer_token"])
        if bool(tls_cert) != bool(tls_key):
            raise t.EarshotError("a client certificate and its key go together (tls_cert and tls_key)")
        self.address = address
        options: List[Tuple[str, object]] = [("grpc.max_receive_message_length", 16 << 20)]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if tls or tls_ca or tls_cert:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls_ca) if tls_ca else None, private_key=_read(tls_key) if tls_key else None,
                certificate_chain=_read(tls_cert) if tls_cert else None)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = pb_grpc.EarshotStub(self._channel)
        self._metadata = [("authorization", "Bearer " + bearer_token)] if bearer_token else []

    def __enter__(self) -> "GRPCClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def push(self, audio: Audio, *, stage: str = "embeddings", payload: str = "f32",
             speech_events: bool = False) -> t.PushResult:
        """Encodes ``audio`` (a WAV path or ``PCM``) as a private stream; returns every token and event."""
        t.check_choice("stage", stage, t.STAGES)
        t.check_choice("payload", payload, t.PAYLOADS)
        pcm = as_pcm(audio)
        start = pb.PushStart(format=_FORMATS[pcm.sample_format], sample_rate=pcm.sample_rate, channels=pcm.channels,
                             payload=_PAYLOADS[payload], output=_STAGES[stage], label=pcm.label,
                             speech_events=speech_events)
        # grpcio sends the request iterator on its own thread while this one reads: pushing and reading go on
        # together, as the daemon's backpressure requires.
        responses = self._call(lambda: self._stub.Push(_requests(start, pcm), metadata=self._metadata))
        result: Optional[t.PushResult] = None
        name = ""
        for message in self._messages(responses):
            if isinstance(message, tuple):
                name, width = message
                result = t.PushResult(width=width)
            elif result is not None and isinstance(message, t.Token):
                if message.index != len(result.tokens):
                    raise t.EarshotError(f"token {message.index} arrived where {len(result.tokens)} was due")
                result.tokens.append(message)
            elif result is not None:
                result.events.append(message)
        if result is None:
            raise t.EarshotError(f"{self.address}: the call ended before the stream started")
        if not result.events or result.events[-1].kind != "ended":
            result.events.append(t.Event(name, "ended", len(result.tokens), 0, ""))
        return result

    def subscribe(self, stream: str = "mic", *, start: str = "now", stage: str = "embeddings",
                  payload: str = "f32", speech: str = "off") -> Iterator[t.Message]:
        """Follows a live stream: its tokens and events until it ends (or the caller stops iterating)."""
        t.check_choice("start", start, t.STARTS)
        t.check_choice("stage", stage, t.STAGES)
        t.check_choice("payload", payload, t.PAYLOADS)
        t.check_choice("speech", speech, t.SPEECH)
        request = pb.SubscribeRequest(stream=stream, start=pb.START_NOW if start == "now" else pb.START_OLDEST,
                                      payload=_PAYLOADS[payload], output=_STAGES[stage],
                                      speech_events=speech != "off", speech_only=speech == "only")
        responses = self._call(lambda: self._stub.Subscribe(request, metadata=self._metadata))
        return self._follow(responses)

    def status(self) -> dict:
        """The daemon's status object (docs/protocol.md, "Status")."""
        response = self._call(lambda: self._stub.Status(pb.StatusRequest(), metadata=self._metadata))
        return json.loads(response.json)

    # -- plumbing --------------------------------------------------------------------------------------------------

    def _follow(self, responses) -> Iterator[t.Message]:
        for message in self._messages(responses):
            if isinstance(message, tuple):
                continue
            yield message
            if isinstance(message, t.Event) and message.kind == "ended":
                return

    def _messages(self, responses):
        """Tokens, events and the start ((name, width)) of a Push or Subscribe call; gRPC errors as EarshotError."""
        name, samples_per_token = "", 640
        try:
            for response in responses:
                kind = response.WhichOneof("response")
                if kind == "started":
                    name = response.started.stream
                    samples_per_token = response.started.samples_per_token or 640
                    yield (name, response.started.width)
                elif kind == "token":
                    token = response.token
                    yield t.Token(name, token.index, token.first_sample, token.capture_time_ns, token.flags,
                                  _STAGE_NAMES.get(token.output, "embeddings"),
                                  t.decode_values(token.values, _PAYLOAD_NAMES[token.payload], token.width),
                                  samples_per_token)
                elif kind == "event":
                    event = response.event
                    yield t.Event(name, _event_name(event.kind), event.at, event.count, event.message)
        except grpc.RpcError as error:
            raise _error(error, self.address) from None

    def _call(self, start):
        try:
            return start()
        except grpc.RpcError as error:
            raise _error(error, self.address) from None


def _requests(start: "pb.PushStart", pcm: PCM) -> Iterator["pb.PushRequest"]:
    """Start, then whole-frame chunks; returning half-closes the call: the end of the audio."""
    yield pb.PushRequest(start=start)
    step = _CHUNK_FRAMES * pcm.frame_bytes
    for offset in range(0, len(pcm.data), step):
        yield pb.PushRequest(audio=pcm.data[offset:offset + step])


def _event_name(kind: int) -> str:
    code = int(kind)
    return t.EVENT_KINDS.get(code, f"event-{code}")


def _error(error: "grpc.RpcError", address: str) -> t.EarshotError:
    code = error.code().name if hasattr(error, "code") else "UNKNOWN"
    details = error.details() if hasattr(error, "details") else str(error)
    return t.EarshotError(f"{address}: {details}", code=code)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
