"""What both transports hand back: tokens, events, a push's result, and errors."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Union

if TYPE_CHECKING:   # numpy is imported where values are decoded: status and errors work without it
    import numpy as np

#: Token flag bits (docs/protocol.md, "Embedding"), by name.
FLAG_NAMES = {1: "discontinuity", 2: "silence", 4: "final", 8: "gapFilled", 16: "speech"}

#: Event kinds by wire code, named as docs/protocol.md and `earshot listen --format jsonl` name them.
EVENT_KINDS = {1: "overrun", 2: "deviceLost", 3: "deviceRestored", 4: "lagged", 5: "discontinuity", 6: "ended",
               7: "speechStart", 8: "speechEnd"}

#: The keys of a token's and an event's JSON line, in order: what `earshot listen --format jsonl` and
#: `earshot-client listen` print (docs/protocol.md, "Vocabulary").
TOKEN_JSON_KEYS = ("token", "firstSample", "time", "latencyMs", "norm", "flags", "values")
EVENT_JSON_KEYS = ("event", "at", "count", "message")

#: The vocabulary of `earshot listen` / `earshot push`.
STAGES = ("embeddings", "encoder")
PAYLOADS = ("f32", "f16", "bf16")
STARTS = ("now", "oldest")
SPEECH = ("off", "all", "only")
SAMPLE_FORMATS = ("s16le", "s32le", "f32le")


class EarshotError(Exception):
    """A refusal from the daemon (``code`` is its name in docs/protocol.md or the gRPC status), a broken
    connection, or input the client cannot send."""

    def __init__(self, message: str, code: str | None = None, fatal: bool = True) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.fatal = fatal


@dataclass(frozen=True)
class Token:
    """One soft token: ``values`` (float32, ``width`` wide) for the ``samples_per_token`` samples of audio from
    ``first_sample`` (16 kHz): 640 (40 ms) for Gemma 4, 160 (10 ms) for Echo."""

    stream: str
    index: int
    first_sample: int
    capture_time_ns: int
    flags: int
    stage: str
    values: "np.ndarray"
    samples_per_token: int = 640

    @property
    def kind(self) -> str:
        """"token": so that a loop over messages can test ``message.kind`` whatever the message is."""
        return "token"

    @property
    def flag_names(self) -> List[str]:
        return [name for bit, name in FLAG_NAMES.items() if self.flags & bit]


@dataclass(frozen=True)
class Event:
    """A stream event: ``kind`` is one of EVENT_KINDS' names; ``at`` a token index or, for speech, a 16 kHz sample."""

    stream: str
    kind: str
    at: int
    count: int
    message: str


Message = Union[Token, Event]


@dataclass
class PushResult:
    """Everything a pushed stream produced, in order: its tokens and its events (``ended`` last)."""

    width: int
    tokens: List[Token] = field(default_factory=list)
    events: List[Event] = field(default_factory=list)

    @property
    def embeddings(self) -> "np.ndarray":
        """The tokens' values as one float32 matrix, ``[tokens, width]``: what `earshot encode` writes."""
        import numpy as np
        if not self.tokens:
            return np.zeros((0, self.width), dtype=np.float32)
        return np.stack([t.values for t in self.tokens]).astype(np.float32, copy=False)

    @property
    def speech_events(self) -> List[dict]:
        """The speech events as `earshot vad` and `earshot push --events` write them: {"start": N} / {"end": N}."""
        return [{"start" if e.kind == "speechStart" else "end": e.at}
                for e in self.events if e.kind in ("speechStart", "speechEnd")]


def token_json(token: Token, now_ns: Optional[int] = None) -> dict:
    """A token as its JSON line (TOKEN_JSON_KEYS), spelled and rounded as `earshot listen --format jsonl` prints it.
    ``latencyMs`` runs from the end of the token's audio to ``now_ns`` (default: now), both on the daemon's clock
    as far as this host's agrees."""
    import numpy as np
    now = time.time_ns() if now_ns is None else now_ns
    values = np.asarray(token.values, dtype=np.float32)
    return {"token": token.index, "firstSample": token.first_sample, "time": round(token.first_sample / 16000, 3),
            "latencyMs": round((now - token.capture_time_ns - token.samples_per_token * 62_500) / 1e6, 1),
            "norm": float(f"{np.linalg.norm(values.astype(np.float64)):.5g}"), "flags": token.flag_names,
            # str() of a float32 is its shortest round-trip digits, as Swift prints a Float.
            "values": [float(str(v)) for v in values]}


def event_json(event: Event) -> dict:
    """An event as its JSON line (EVENT_JSON_KEYS), as `earshot listen --format jsonl` prints it."""
    return {"event": event.kind, "at": event.at, "count": event.count, "message": event.message}


def renamed_kwargs(function: str, renames: Dict[str, str], old: Dict[str, object],
                   current: Dict[str, object]) -> Dict[str, object]:
    """``current`` (the keyword arguments under their current names, None where not given) with those given under
    their old names (``renames``: old → current) moved in, each with a DeprecationWarning. An unknown name, or one
    option under both names, is a TypeError, as Python gives for a bad keyword."""
    merged = dict(current)
    for name, value in old.items():
        if name not in renames:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}")
        new = renames[name]
        if merged.get(new) is not None:
            raise TypeError(f"{function}(): {name}= is the old name of {new}=; give only {new}=")
        warnings.warn(f"{function}(): {name}= is deprecated; use {new}=", DeprecationWarning, stacklevel=3)
        merged[new] = value
    return merged


#: The keyword arguments renamed to the shared vocabulary (docs/protocol.md, "Vocabulary"): old → current.
RENAMED_TLS_KWARGS = {"ca": "tls_ca", "cert": "tls_cert", "key": "tls_key", "token": "bearer_token"}


def decode_values(data: bytes, payload: str, width: int) -> "np.ndarray":
    """A token's little-endian values in ``payload`` format, widened to float32."""
    import numpy as np
    if payload == "f32":
        return np.frombuffer(data, dtype="<f4", count=width).astype(np.float32)
    if payload == "f16":
        return np.frombuffer(data, dtype="<f2", count=width).astype(np.float32)
    halves = np.frombuffer(data, dtype="<u2", count=width).astype(np.uint32) << 16   # bf16: a float32's top half
    return halves.view(np.float32)


def check_choice(name: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise EarshotError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
