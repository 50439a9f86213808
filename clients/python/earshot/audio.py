"""The audio a push sends: a WAV file read with the standard library, or raw PCM the caller describes."""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from typing import Union

from .types import SAMPLE_FORMATS, EarshotError, check_choice


@dataclass(frozen=True)
class PCM:
    """Interleaved little-endian samples: ``sample_format`` s16le, s32le or f32le, any rate and channel count
    (the daemon averages channels and resamples to 16 kHz)."""

    data: bytes
    sample_format: str = "s16le"
    sample_rate: int = 16000
    channels: int = 1
    label: str = ""

    @property
    def frame_bytes(self) -> int:
        return (2 if self.sample_format == "s16le" else 4) * self.channels

    def checked(self) -> "PCM":
        check_choice("sample_format", self.sample_format, SAMPLE_FORMATS)
        if self.sample_rate <= 0 or self.channels <= 0:
            raise EarshotError(f"sample_rate and channels must be positive, not {self.sample_rate} and {self.channels}")
        if len(self.data) % self.frame_bytes:
            raise EarshotError(f"{len(self.data)} bytes is not a whole number of {self.frame_bytes}-byte frames")
        return self


Audio = Union[str, "os.PathLike[str]", PCM]


def read_wav(path: Union[str, "os.PathLike[str]"]) -> PCM:
    """A 16- or 32-bit integer PCM WAV file, any rate and channel count (the standard library's ``wave``). Other
    encodings are refused with the file's name: `earshot push` reads them."""
    try:
        with wave.open(os.fspath(path), "rb") as w:
            width = w.getsampwidth()
            if width not in (2, 4):
                raise EarshotError(f"{os.fspath(path)}: {8 * width}-bit WAV: use 16- or 32-bit PCM (or `earshot push`)")
            return PCM(w.readframes(w.getnframes()), "s16le" if width == 2 else "s32le", w.getframerate(),
                       w.getnchannels(), os.path.basename(os.fspath(path)))
    except (wave.Error, EOFError) as error:
        raise EarshotError(f"{os.fspath(path)}: not a PCM WAV file ({error})") from None


def as_pcm(audio: Audio) -> PCM:
    return (audio if isinstance(audio, PCM) else read_wav(audio)).checked()
