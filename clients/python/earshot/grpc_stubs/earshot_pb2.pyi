from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PCMFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PCM_FORMAT_UNSPECIFIED: _ClassVar[PCMFormat]
    PCM_FORMAT_S16LE: _ClassVar[PCMFormat]
    PCM_FORMAT_S32LE: _ClassVar[PCMFormat]
    PCM_FORMAT_F32LE: _ClassVar[PCMFormat]

class Payload(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYLOAD_F32: _ClassVar[Payload]
    PAYLOAD_F16: _ClassVar[Payload]
    PAYLOAD_BF16: _ClassVar[Payload]

class Output(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_EMBEDDINGS: _ClassVar[Output]
    OUTPUT_ENCODER: _ClassVar[Output]

class StartPoint(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    START_NOW: _ClassVar[StartPoint]
    START_OLDEST: _ClassVar[StartPoint]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_OVERRUN: _ClassVar[EventKind]
    EVENT_KIND_DEVICE_LOST: _ClassVar[EventKind]
    EVENT_KIND_DEVICE_RESTORED: _ClassVar[EventKind]
    EVENT_KIND_LAGGED: _ClassVar[EventKind]
    EVENT_KIND_DISCONTINUITY: _ClassVar[EventKind]
    EVENT_KIND_ENDED: _ClassVar[EventKind]
    EVENT_KIND_SPEECH_START: _ClassVar[EventKind]
    EVENT_KIND_SPEECH_END: _ClassVar[EventKind]
PCM_FORMAT_UNSPECIFIED: PCMFormat
PCM_FORMAT_S16LE: PCMFormat
PCM_FORMAT_S32LE: PCMFormat
PCM_FORMAT_F32LE: PCMFormat
PAYLOAD_F32: Payload
PAYLOAD_F16: Payload
PAYLOAD_BF16: Payload
OUTPUT_EMBEDDINGS: Output
OUTPUT_ENCODER: Output
START_NOW: StartPoint
START_OLDEST: StartPoint
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_OVERRUN: EventKind
EVENT_KIND_DEVICE_LOST: EventKind
EVENT_KIND_DEVICE_RESTORED: EventKind
EVENT_KIND_LAGGED: EventKind
EVENT_KIND_DISCONTINUITY: EventKind
EVENT_KIND_ENDED: EventKind
EVENT_KIND_SPEECH_START: EventKind
EVENT_KIND_SPEECH_END: EventKind

class PushRequest(_message.Message):
    __slots__ = ("start", "audio")
    START_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    start: PushStart
    audio: bytes
    def __init__(self, start: _Optional[_Union[PushStart, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class PushStart(_message.Message):
    __slots__ = ("format", "sample_rate", "channels", "payload", "output", "label", "speech_events", "speech_only")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SPEECH_EVENTS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_ONLY_FIELD_NUMBER: _ClassVar[int]
    format: PCMFormat
    sample_rate: int
    channels: int
    payload: Payload
    output: Output
    label: str
    speech_events: bool
    speech_only: bool
    def __init__(self, format: _Optional[_Union[PCMFormat, str]] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., payload: _Optional[_Union[Payload, str]] = ..., output: _Optional[_Union[Output, str]] = ..., label: _Optional[str] = ..., speech_events: _Optional[bool] = ..., speech_only: _Optional[bool] = ...) -> None: ...

class PushResponse(_message.Message):
    __slots__ = ("started", "token", "event")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    started: Started
    token: Token
    event: Event
    def __init__(self, started: _Optional[_Union[Started, _Mapping]] = ..., token: _Optional[_Union[Token, _Mapping]] = ..., event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("stream", "start", "payload", "output", "speech_events", "speech_only")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SPEECH_EVENTS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_ONLY_FIELD_NUMBER: _ClassVar[int]
    stream: str
    start: StartPoint
    payload: Payload
    output: Output
    speech_events: bool
    speech_only: bool
    def __init__(self, stream: _Optional[str] = ..., start: _Optional[_Union[StartPoint, str]] = ..., payload: _Optional[_Union[Payload, str]] = ..., output: _Optional[_Union[Output, str]] = ..., speech_events: _Optional[bool] = ..., speech_only: _Optional[bool] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("started", "token", "event")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    started: Started
    token: Token
    event: Event
    def __init__(self, started: _Optional[_Union[Started, _Mapping]] = ..., token: _Optional[_Union[Token, _Mapping]] = ..., event: _Optional[_Union[Event, _Mapping]] = ...) -> None: ...

class Started(_message.Message):
    __slots__ = ("stream", "first_token", "width", "sample_rate", "samples_per_token")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_PER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    stream: str
    first_token: int
    width: int
    sample_rate: int
    samples_per_token: int
    def __init__(self, stream: _Optional[str] = ..., first_token: _Optional[int] = ..., width: _Optional[int] = ..., sample_rate: _Optional[int] = ..., samples_per_token: _Optional[int] = ...) -> None: ...

class Token(_message.Message):
    __slots__ = ("index", "first_sample", "capture_time_ns", "flags", "payload", "output", "width", "values")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIRST_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    index: int
    first_sample: int
    capture_time_ns: int
    flags: int
    payload: Payload
    output: Output
    width: int
    values: bytes
    def __init__(self, index: _Optional[int] = ..., first_sample: _Optional[int] = ..., capture_time_ns: _Optional[int] = ..., flags: _Optional[int] = ..., payload: _Optional[_Union[Payload, str]] = ..., output: _Optional[_Union[Output, str]] = ..., width: _Optional[int] = ..., values: _Optional[bytes] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("kind", "at", "count", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: EventKind
    at: int
    count: int
    message: str
    def __init__(self, kind: _Optional[_Union[EventKind, str]] = ..., at: _Optional[int] = ..., count: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...
