#!/usr/bin/env python3
"""Reference fixtures for Earshot's Echo encoder (issue #24): the seed's own classes (echo_seed.py) on seeded random
weights, fed WhisperFeatureExtractor log-mels and raw 16 kHz windows.

    ~/.cache/earshot-ref/bin/python tools/reference/make_echo_fixtures.py --out Tests/Fixtures/echo
    ~/.cache/earshot-ref/bin/python tools/reference/make_echo_fixtures.py --full /tmp/echo-full   # seed Dimensions

Windows: the mel path only accepts exactly ctx frames (AudioEncoder asserts it), so audio is cut into windows of
ctx·hop samples (15 s at ctx 1500). Each window is fed to WhisperFeatureExtractor(feature_size=mels,
sampling_rate=16000, hop_length=160, chunk_length=15) with max_length=ctx·hop (which pads a short window with
zeros and clamps each window's log-mel at its own maximum − 8), and, for the waveform path, the same samples
zero-padded to ctx·hop, shaped [1, 1, ctx·hop]. The encoder runs in eval mode (its Dropout off), float32, one thread.

Small-dims output, under `<out>/`:
    <model>/model.safetensors     the seed's state_dict: `base` a bare AudioEncoder (dims 32), `zerokey` a full Echo (dims 16)
                                  (`encoder.*` and `decoder.*` keys)
    <model>/dimensions.json       dataclasses.asdict(Dimensions)
    <model>/earshot-model.json    {"family": "echo"}: how Earshot knows the directory's family
    <case>/input.wav              16 kHz mono int16
    <case>/mel.npy                [windows, mels, ctx]  WhisperFeatureExtractor per window
    <case>/<model>.<kind>.npy     [windows, ctx, dims]  AudioEncoder output; kind: mel, wave, fused
    oddwave.wave.npy / oddwave.<model>.npy   a 5003-sample waveform alone (AdaptiveAvgPool1d's uneven windows)
    manifest.json                 versions, dimensions, shapes, which heads take the 1e-6 path
`zerokey` zeroes rows 0 and 1 of some heads' key projection, so the first element of their rotated keys is exactly
0 at every position and the seed's 1e-6 factor applies; the script asserts that it does (and that `base` never
takes it). Deterministic: a rerun gives the same bytes.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import WhisperFeatureExtractor

sys.path.insert(0, str(Path(__file__).resolve().parent))
import echo_seed  # noqa: E402  (the seed's classes; importing it sets torch's default dtype to float32)

SAMPLE_RATE = 16_000
HOP = 160
TEXT = "Echo hears the waveform and the spectrogram."
# Small dims for the committed fixtures (`base`, `zerokey`; one ctx and mels, so they share the inputs) and the
# seed's own Dimensions for the hand check. The rotary bias is [4096, head_dim/2] per layer whatever ctx is, so
# head_dim sets most of a small checkpoint's size.
SMALL = {"base": dict(mels=16, audio_ctx=48, audio_dims=32, audio_head=4, encoder_idx=2),
         "zerokey": dict(mels=16, audio_ctx=48, audio_dims=16, audio_head=4, encoder_idx=2)}
FULL = {"base": dict(mels=128, audio_ctx=1500, audio_dims=512, audio_head=4, encoder_idx=4),
        "zerokey": dict(mels=128, audio_ctx=1500, audio_dims=512, audio_head=4, encoder_idx=4)}
# Heads whose key rows 0 and 1 are zeroed in `zerokey`, per layer.
ZERO_KEY_HEADS = {0: [1, 3], 1: [0]}


def dimensions(audio: dict, act: str, full: bool) -> echo_seed.Dimensions:
    """The seed's text side at full size; a token one (8 wide, 1 layer) beside the small audio side."""
    text = dict(vocab=51865, text_ctx=512, text_dims=512, text_head=4, decoder_idx=4) if full else \
        dict(vocab=16, text_ctx=8, text_dims=8, text_head=2, decoder_idx=1)
    return echo_seed.Dimensions(pad_token_id=0, eos_token_id=0, decoder_start_token_id=0, act=act, **text, **audio)


def encoder_of(param: echo_seed.Dimensions) -> echo_seed.AudioEncoder:
    return echo_seed.AudioEncoder(mels=param.mels, ctx=param.audio_ctx, dims=param.audio_dims,
                                  head=param.audio_head, layer=param.encoder_idx, act=param.act)


def randomize(encoder: echo_seed.AudioEncoder, seed: int) -> None:
    """PyTorch's default init, then norm scales, rotary frequencies and rotary biases moved off their defaults so
    that every parameter matters."""
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            if name.endswith("rotary.bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=generator))
            elif name.endswith("rotary.inv_freq"):
                p.mul_(1 + 0.1 * torch.randn(p.shape, generator=generator))
            elif name.startswith("ln_enc") or ".ln" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator))
            elif name.startswith("se.5.fc"):
                p.copy_(torch.randn(p.shape, generator=generator) / p.shape[-1] ** 0.5)


def zero_key_rows(encoder: echo_seed.AudioEncoder) -> None:
    head_dim = encoder.blockA[0].attna.dims // encoder.blockA[0].attna.head
    with torch.no_grad():
        for layer, heads in ZERO_KEY_HEADS.items():
            for h in heads:
                encoder.blockA[layer].attna.key.weight[h * head_dim: h * head_dim + 2].zero_()


def zero_key_heads(encoder: echo_seed.AudioEncoder, x, w) -> dict[int, list[int]]:
    """Per layer, the heads where the seed's `token_ids == 0` holds at some key position: the seed's own key
    computation (`Multihead.key`, then the rotary it applies) captured with forward hooks."""
    found: dict[int, list[int]] = {}
    hooks = []
    for i, block in enumerate(encoder.blockA):
        attn = block.attna

        def hook(module, inputs, k, i=i, attn=attn):
            ctx = k.shape[1]
            k = k.view(*k.shape[:2], attn.head, -1).permute(0, 2, 1, 3)
            k = attn.rotary.apply_rotary(k, attn.rotary(ctx))
            zero = (k[:, :, :, 0] == 0)[0]   # [head, ctx]
            found[i] = [h for h in range(attn.head) if bool(zero[h].any())]
        hooks.append(attn.key.register_forward_hook(hook))
    with torch.no_grad():
        encoder(x, w)
    for h in hooks:
        h.remove()
    return found


def espeak(text: str, tmp: Path) -> np.ndarray:
    """espeak-ng (en-us, 160 words/min) -> sox (no dither) -> 16 kHz mono int16."""
    out = tmp / f"espeak-{hashlib.sha256(text.encode()).hexdigest()[:16]}.wav"
    synth = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "--stdout", text],
                           check=True, capture_output=True).stdout
    subprocess.run(["sox", "-D", "-t", "wav", "-", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out)],
                   input=synth, check=True)
    with wave.open(str(out), "rb") as f:
        return np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").copy()


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(samples.astype("<i2").tobytes())


def windows(samples: np.ndarray, ctx: int, extractor: WhisperFeatureExtractor):
    """(mel [windows, mels, ctx], waveform [windows, ctx·hop]) as Earshot's windows cut them."""
    size = ctx * HOP
    count = max(1, -(-len(samples) // size))
    mels, waves = [], []
    for k in range(count):
        piece = samples[k * size:(k + 1) * size].astype(np.float32)
        features = extractor(piece, sampling_rate=SAMPLE_RATE, max_length=size, padding="max_length",
                             truncation=True, return_tensors="np")["input_features"]
        assert features.shape[-1] == ctx, features.shape
        mels.append(features[0].astype(np.float32))
        waves.append(np.pad(piece, (0, size - len(piece))))
    return np.stack(mels), np.stack(waves)


def run(encoder, mel: np.ndarray | None, wave_: np.ndarray | None) -> np.ndarray:
    """The seed's AudioEncoder.forward on one window: [ctx, dims]."""
    x = None if mel is None else torch.from_numpy(mel)[None]
    w = None if wave_ is None else torch.from_numpy(wave_)[None, None]
    with torch.no_grad():
        return np.ascontiguousarray(encoder(x, w)[0].numpy(), dtype=np.float32)


def save_model(directory: Path, state: dict, param: echo_seed.Dimensions) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"),
              metadata={"format": "pt"})
    (directory / "dimensions.json").write_text(json.dumps(dataclasses.asdict(param), indent=2) + "\n")
    (directory / "earshot-model.json").write_text(json.dumps({"family": "echo"}, indent=2) + "\n")


def build_models(audio: dict[str, dict], full: bool):
    """`base`: a bare AudioEncoder (gelu). `zerokey`: a full Echo (relu), some key rows zeroed."""
    torch.manual_seed(24)
    base_param = dimensions(audio["base"], "gelu", full)
    base = encoder_of(base_param)
    randomize(base, 24)
    base.eval()

    torch.manual_seed(25)
    zero_param = dimensions(audio["zerokey"], "relu", full)
    echo = echo_seed.Echo(zero_param)
    with torch.no_grad():
        echo.decoder.positional_embedding.normal_(0, 0.02)   # torch.empty in the seed: make the bytes deterministic
    randomize(echo.encoder, 25)
    zero_key_rows(echo.encoder)
    echo.eval()
    return (base_param, base, base.state_dict()), (zero_param, echo.encoder, echo.state_dict())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, help="small-dims fixtures (Tests/Fixtures/echo)")
    parser.add_argument("--full", type=Path, help="the seed's Dimensions: checkpoint + outputs (never under Tests/)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.full:
        assert "Tests" not in args.full.resolve().parts, "full-size output is not a fixture"
        make(args.full, FULL, full=True)
    if args.out:
        make(args.out, SMALL, full=False)


def make(out: Path, audio: dict[str, dict], full: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ctx, mels = audio["base"]["audio_ctx"], audio["base"]["mels"]
    extractor = WhisperFeatureExtractor(feature_size=mels, sampling_rate=SAMPLE_RATE, hop_length=HOP,
                                        chunk_length=15)
    models = dict(zip(["base", "zerokey"], build_models(audio, full)))
    for name, (param, _, state) in models.items():
        save_model(out / name, state, param)

    size = ctx * HOP
    with tempfile.TemporaryDirectory() as tmpname:
        speech = espeak(TEXT, Path(tmpname))
    # speech: 1.6 windows of speech (the last one partial, zero-padded).
    # silence: speech, then digital silence: window 0 ends in it, window 1 is nothing else (and padding).
    cases = {
        "speech": np.resize(speech, int(1.6 * size)),
        "silence": np.concatenate([speech[:int(0.4 * size)], np.zeros(int(1.3 * size), np.int16)]),
    }
    manifest = {
        "versions": {p: importlib.metadata.version(p) for p in ["torch", "transformers", "numpy", "safetensors"]},
        "frontend": {"feature_size": mels, "sampling_rate": SAMPLE_RATE, "hop_length": HOP, "chunk_length": 15,
                     "max_length": size},
        "models": {n: dataclasses.asdict(p) for n, (p, _, _) in models.items()},
        "cases": {}, "zero_key_heads": {},
    }
    for case, samples in cases.items():
        directory = out / case
        directory.mkdir(exist_ok=True)
        write_wav(directory / "input.wav", samples)
        mel, waves = windows(samples.astype(np.float32) / 32768.0, ctx, extractor)
        np.save(directory / "mel.npy", mel)
        manifest["cases"][case] = {"samples": len(samples), "windows": len(mel)}
        for name, (_, encoder, _) in models.items():
            outputs = {"mel": [run(encoder, m, None) for m in mel],
                       "wave": [run(encoder, None, w) for w in waves],
                       "fused": [run(encoder, m, w) for m, w in zip(mel, waves)]}
            for kind, rows in outputs.items():
                np.save(directory / f"{name}.{kind}.npy", np.stack(rows))
            heads = zero_key_heads(encoder, torch.from_numpy(mel[0])[None], torch.from_numpy(waves[0])[None, None])
            manifest["zero_key_heads"].setdefault(name, {})[case] = heads
            if name == "zerokey":
                assert all(heads[layer] == hs for layer, hs in ZERO_KEY_HEADS.items()), heads
            else:
                assert not any(heads.values()), f"base unexpectedly takes the 1e-6 path: {heads}"
    # A waveform of any length: AdaptiveAvgPool1d(ctx) over 5003 samples' conv output (uneven pooling windows).
    odd = (cases["speech"][:5003].astype(np.float32) / 32768.0) if not full else \
        (cases["speech"][:200_003].astype(np.float32) / 32768.0)
    np.save(out / "oddwave.wave.npy", odd)
    for name, (_, encoder, _) in models.items():
        np.save(out / f"oddwave.{name}.npy", run(encoder, None, odd))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {total / 1e3:.0f} kB; zero-key heads: {manifest['zero_key_heads']}")
    # The seed's float32 noise, for the record: the same windows in float64.
    for name, (_, encoder, _) in models.items():
        mel, waves = windows(cases["speech"].astype(np.float32) / 32768.0, ctx, extractor)
        f32 = run(encoder, mel[0], waves[0])
        wide = encoder.double()
        with torch.no_grad():
            f64 = wide(torch.from_numpy(mel[0]).double()[None], torch.from_numpy(waves[0]).double()[None, None])[0]
        encoder.float()
        print(f"  {name}: seed float32 vs float64, fused window 0: max abs {np.abs(f32 - f64.numpy()).max():.2e}")


if __name__ == "__main__":
    main()
