#!/usr/bin/env python3
"""Reference fixtures for Earshot's Silero VAD: speech with pauses and noisy speech, run through silero-vad's own
JIT model window by window and through its `VADIterator`.

    ~/.cache/earshot-ref/bin/python tools/reference/make_vad_fixtures.py --out Tests/Fixtures/vad

For each case it writes, under `<out>/<case>/`:
    input.wav          16 kHz mono int16: espeak-ng speech (sox, no dither) with silences, optionally noise
    probs.npy          float32 [windows]: the JIT model's probability for each 512-sample window, called window by
                       window after reset_states(), the last partial window zero-padded
    events.jsonl       VADIterator(model) with its defaults (threshold 0.5, min silence 100 ms, pad 30 ms), fed
                       the same windows: one JSON object per event it returned, {"start": N} or {"end": N}
    events_custom.jsonl  the same with threshold 0.3, min_silence_duration_ms 250, speech_pad_ms 50
and `<out>/manifest.json` (versions, per-case sample and window counts). Deterministic: a rerun gives the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import torch
from silero_vad import VADIterator, load_silero_vad

SAMPLE_RATE = 16_000
WINDOW = 512
CUSTOM = {"threshold": 0.3, "min_silence_duration_ms": 250, "speech_pad_ms": 50}

# (text, silence in ms after it). Changing them changes every fixture.
PAUSES = [
    ("Voice activity detection finds the speech.", 700),
    ("Then it waits.", 250),
    ("A short pause,", 90),
    ("and a long one.", 1200),
    ("The end.", 400),
]
NOISY = [
    ("Noise makes the decision harder.", 600),
    ("Can you still hear me?", 900),
    ("Yes.", 300),
]


def espeak(text: str, tmp: Path) -> np.ndarray:
    """espeak-ng (en-us, 160 words/min) -> sox (no dither) -> 16 kHz mono int16."""
    out = tmp / f"espeak-{hashlib.sha256(text.encode()).hexdigest()[:16]}.wav"
    synth = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "--stdout", text],
                           check=True, capture_output=True).stdout
    subprocess.run(["sox", "-D", "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out)],
                   input=synth, check=True)
    return read_wav(out)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == SAMPLE_RATE
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.astype("<i2").tobytes())


def spoken(parts: list[tuple[str, int]], lead_ms: int, tmp: Path) -> np.ndarray:
    """`lead_ms` of silence, then each text followed by its silence, as int16."""
    pieces = [np.zeros(lead_ms * SAMPLE_RATE // 1000, dtype=np.int16)]
    for text, pause_ms in parts:
        pieces += [espeak(text, tmp), np.zeros(pause_ms * SAMPLE_RATE // 1000, dtype=np.int16)]
    return np.concatenate(pieces)


def with_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """`x` plus white Gaussian noise and a 50 Hz hum at `snr_db` below the speech's power, clipped to int16."""
    rng = np.random.Generator(np.random.PCG64(seed))
    signal = x.astype(np.float64)
    power = np.mean(signal[np.abs(signal) > 0] ** 2)
    noise_power = power / 10 ** (snr_db / 10)
    t = np.arange(len(x)) / SAMPLE_RATE
    noise = rng.standard_normal(len(x)) * np.sqrt(noise_power * 0.8)
    noise += np.sqrt(2 * noise_power * 0.2) * np.sin(2 * np.pi * 50 * t)
    return np.clip(np.round(signal + noise), -32768, 32767).astype(np.int16)


def windows(audio: np.ndarray) -> list[torch.Tensor]:
    """The stream cut into 512-sample windows, the last one zero-padded, as the model takes them."""
    x = torch.from_numpy(audio.astype(np.float32) / 32768.0)
    pad = -len(x) % WINDOW
    x = torch.nn.functional.pad(x, (0, pad))
    return [x[i:i + WINDOW].unsqueeze(0) for i in range(0, len(x), WINDOW)]


def run_case(name: str, audio: np.ndarray, model, out: Path) -> dict:
    case = out / name
    case.mkdir(parents=True, exist_ok=True)
    write_wav(case / "input.wav", audio)
    chunks = windows(audio)

    model.reset_states()
    probs = np.array([model(w, SAMPLE_RATE).item() for w in chunks], dtype=np.float32)
    np.save(case / "probs.npy", probs)

    for file, settings in (("events.jsonl", {}), ("events_custom.jsonl", CUSTOM)):
        iterator = VADIterator(model, sampling_rate=SAMPLE_RATE, **settings)   # resets the model's states
        events = [e for w in chunks if (e := iterator(w)) is not None]
        (case / file).write_text("".join(json.dumps(e) + "\n" for e in events))
    return {"samples": len(audio), "windows": len(chunks), "speech_windows": int((probs >= 0.5).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_silero_vad(onnx=False)
    cases = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases["pauses"] = run_case("pauses", spoken(PAUSES, 300, Path(tmp)), model, args.out)
        cases["noisy"] = run_case("noisy", with_noise(spoken(NOISY, 500, Path(tmp)), 5.0, 12), model, args.out)
    manifest = {
        "silero_vad": importlib.metadata.version("silero-vad"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "model": "silero_vad.jit (load_silero_vad(onnx=False)), 16 kHz, one thread",
        "custom_events": CUSTOM,
        "cases": cases,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for name, meta in cases.items():
        print(name, meta)


if __name__ == "__main__":
    main()
