#!/usr/bin/env python3
"""Earshot reference fixtures from Hugging Face transformers (CPU, float32).

Writes small random-weight Gemma 4 audio checkpoints in the Hugging Face layout, a set of
audio cases, and what transformers computes for them (log-mel, audio-tower output and
embed_audio output). The Swift tests compare against these files.

    ~/.cache/earshot-ref/bin/python tools/reference/make_fixtures.py --out Tests/Fixtures
    ~/.cache/earshot-ref/bin/python tools/reference/make_fixtures.py --e2b-check /tmp/e2b

Reference code followed (transformers 5.23.0, models/gemma4/):
  feature_extraction_gemma4.py  Gemma4AudioFeatureExtractor.__call__ (list input, pad to 128, mask)
  modeling_gemma4.py            Gemma4AudioModel.forward, Gemma4MultimodalEmbedder.forward,
                                Gemma4Model.get_audio_features (tower, then embed_audio, then [mask])
  processing_gemma4.py          Gemma4Processor._compute_audio_num_tokens (token count)
  configuration_gemma4.py       Gemma4Config / Gemma4AudioConfig / Gemma4TextConfig
See tools/reference/README.md for what is produced and why.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import dataclasses
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (
    Gemma4AudioConfig,
    Gemma4AudioFeatureExtractor,
    Gemma4Config,
    Gemma4ForConditionalGeneration,
    Gemma4TextConfig,
    Gemma4VisionConfig,
)
from transformers.models.gemma4.modeling_gemma4 import (
    Gemma4AudioModel,
    Gemma4ClippableLinear,
    Gemma4MultimodalEmbedder,
)
from transformers.models.gemma4.processing_gemma4 import Gemma4Processor

HF_VERSION_EXPECTED = "5.23.0"
AUDIO_PREFIX = "model.audio_tower."
EMBED_PREFIX = "model.embed_audio."
SAMPLE_RATE = 16_000
LIBSAMPLERATE = "/usr/lib/x86_64-linux-gnu/libsamplerate.so.0"
SRC_SINC_BEST_QUALITY = 0
LOG_MEL_FLOOR = np.float32(math.log(1e-3))  # mel channel 0 in every valid frame (spec §2.7)

# Texts spoken by espeak-ng (voice en-us, 160 words/min). Changing them changes every fixture.
TEXT_SPEECH = "The quick brown fox jumps over the lazy dog, then rests beside the river."
TEXT_ODD = "Seven silver spoons sat on the shelf."
TEXT_STEREO = "Listening on two channels at forty four kilohertz."
TEXT_LONG = (
    "Earshot streams audio embeddings from a small daemon. Each token covers forty milliseconds, "
    "and attention looks back about half a second."
)
TEXT_E2B = (
    "This is a ten second clip for checking the full size encoder by hand. "
    "It is long enough to cover many attention blocks, and it ends with a little silence."
)


# --------------------------------------------------------------------------------------------
# Model recipes
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One random-weight checkpoint: architecture, weight seed, storage format."""

    name: str
    hidden: int  # H, audio_config.hidden_size
    layers: int  # audio_config.num_hidden_layers
    heads: int  # audio_config.num_attention_heads
    sscp_channels: tuple[int, int]  # audio_config.subsampling_conv_channels; [0] must stay 128
    proj_dims: int  # audio_config.output_proj_dims (embedder input width)
    text_hidden: int  # D, text_config.hidden_size (embedder output width)
    seed: int
    clipped: bool = True  # audio_config.use_clipped_linears
    vision: bool = True  # carry a (default) vision_config in config.json like a released checkpoint
    storage: str = "float32"  # safetensors dtype: "float32" or "bfloat16"
    shards: int = 1
    weights_from: str | None = None  # reuse another spec's weights (bf16 / sharded copies)


TINY = ModelSpec("tiny-f32", hidden=64, layers=2, heads=4, sscp_channels=(128, 8), proj_dims=48,
                 text_hidden=96, seed=1001)
TINY3 = ModelSpec("tiny3-f32", hidden=64, layers=3, heads=2, sscp_channels=(128, 4), proj_dims=40,
                  text_hidden=80, seed=1003)
NOCLIP = ModelSpec("noclip-f32", hidden=64, layers=1, heads=8, sscp_channels=(128, 12), proj_dims=56,
                   text_hidden=72, seed=1005, clipped=False, vision=False)
TINY_BF16 = dataclasses.replace(TINY, name="tiny-bf16", storage="bfloat16", weights_from="tiny-f32")
TINY_SHARDED = dataclasses.replace(TINY, name="tiny-sharded", shards=2, weights_from="tiny-f32")
E2B = ModelSpec("e2b-random", hidden=1024, layers=12, heads=8, sscp_channels=(128, 32), proj_dims=1536,
                text_hidden=1536, seed=2002)

FIXTURE_MODELS = [TINY, TINY3, NOCLIP, TINY_BF16, TINY_SHARDED]


def make_config(spec: ModelSpec) -> Gemma4Config:
    """A Gemma4Config as a released E2B/E4B config.json has it, at the test model's sizes."""
    audio = Gemma4AudioConfig(
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        subsampling_conv_channels=list(spec.sscp_channels),
        output_proj_dims=spec.proj_dims,
        use_clipped_linears=spec.clipped,
    )
    text = Gemma4TextConfig(
        hidden_size=spec.text_hidden,
        intermediate_size=4 * spec.text_hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=spec.text_hidden // 2,
        layer_types=["sliding_attention", "full_attention"],
    )
    vision = Gemma4VisionConfig().to_dict() if spec.vision else None
    config = Gemma4Config(text_config=text.to_dict(), audio_config=audio.to_dict(), vision_config=vision)
    # What PreTrainedModel.save_pretrained adds before writing config.json.
    config.architectures = ["Gemma4ForConditionalGeneration"]
    config.dtype = spec.storage
    return config


def build_modules(config: Gemma4Config) -> tuple[Gemma4AudioModel, Gemma4MultimodalEmbedder]:
    """The audio tower and embed_audio exactly as Gemma4Model.__init__ builds them."""
    tower = Gemma4AudioModel(config.audio_config).float().eval()
    embedder = Gemma4MultimodalEmbedder(config.audio_config, config.text_config).float().eval()
    assert tower.config._attn_implementation == "eager", tower.config._attn_implementation
    return tower, embedder


def checkpoint_state(tower, embedder) -> dict[str, torch.Tensor]:
    """Checkpoint key -> tensor, with the real prefixes (model.audio_tower., model.embed_audio.)."""
    state = {AUDIO_PREFIX + k: v for k, v in tower.state_dict().items()}
    state.update({EMBED_PREFIX + k: v for k, v in embedder.state_dict().items()})
    return state


def expected_checkpoint_shapes(config: Gemma4Config) -> dict[str, tuple[int, ...]]:
    """Audio keys of Gemma4ForConditionalGeneration(config).state_dict(), built on the meta device."""
    with torch.device("meta"):
        full = Gemma4ForConditionalGeneration(config)
    return {
        k: tuple(v.shape)
        for k, v in full.state_dict().items()
        if k.startswith(AUDIO_PREFIX) or k.startswith(EMBED_PREFIX)
    }


@torch.no_grad()
def randomize(tower, embedder, spec: ModelSpec) -> None:
    """Fixed-seed random weights at a scale that keeps activations O(1) through every layer.

    Linear weights ~ N(0, 1/in); q and k get extra gain and per_dim_scale is shifted up so that
    attention logits reach tens and the 50*tanh(x/50) softcap visibly matters. Norm weights are
    1 +- noise. Clamp buffers stay at +-inf here; calibrate_clamps() sets them afterwards.
    """
    gen = torch.Generator().manual_seed(spec.seed)

    def randn(shape):
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    named = [(AUDIO_PREFIX + k, t) for k, t in tower.state_dict(keep_vars=True).items()]
    named += [(EMBED_PREFIX + k, t) for k, t in embedder.state_dict(keep_vars=True).items()]
    for name, tensor in named:
        shape = tuple(tensor.shape)
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("input_min", "input_max", "output_min", "output_max"):
            continue
        if name.endswith("layer0.conv.weight"):  # [C0, 1, 3, 3]
            value = randn(shape) / 3.0
        elif name.endswith("layer1.conv.weight"):  # [C1, C0, 3, 3]
            value = randn(shape) / math.sqrt(shape[1] * 9)
        elif name.endswith("per_dim_scale"):  # [head_dim], used as softplus(w)
            value = 1.0 + 0.5 * randn(shape)
        elif name.endswith("depthwise_conv1d.weight"):  # [H, 1, 5]
            value = randn(shape) / math.sqrt(shape[-1])
        elif name.endswith("output_proj.bias"):
            value = 0.1 * randn(shape)
        elif len(shape) == 1 and "norm" in name:  # every RMSNorm / LayerNorm scale
            value = 1.0 + 0.15 * randn(shape)
        elif len(shape) == 2:  # [out, in] Linear
            gain = 2.0 if (".q_proj." in name or ".k_proj." in name) else 1.0
            value = gain * randn(shape) / math.sqrt(shape[1])
        else:
            raise AssertionError(f"no init rule for {name} {shape}")
        tensor.copy_(value)


def clippable_linears(tower) -> list[tuple[str, Gemma4ClippableLinear]]:
    return [(AUDIO_PREFIX + n, m) for n, m in tower.named_modules() if isinstance(m, Gemma4ClippableLinear)]


def _readable(x: float, used: set[float]) -> float:
    """x rounded to 4 significant digits (readable in a debugger), nudged until unused in this model."""
    y = float(f"{x:.4g}")
    step = abs(y) * 1e-3 if y else 1e-3
    while y in used:
        y = float(f"{y + step:.4g}")
    used.add(y)
    return y


@torch.no_grad()
def calibrate_clamps(tower, spec: ModelSpec, features, mask, n_tokens: int) -> None:
    """Set every ClippableLinear's four clamp scalars from quantiles of its own activations.

    One forward pass on the calibration clip. Each linear's forward is swapped for one that
    first measures its (already clamped-upstream) input on the valid tokens, sets input_min /
    input_max at randomly drawn tail quantiles (0.5-3 % per side), clamps, applies the weight,
    then does the same for output_min / output_max. Because the pass runs in graph order, the
    bounds are consistent with the final model. The quantile levels are drawn per linear, so q,
    k and v (which see the same input) still get different bounds.
    """
    rng = np.random.Generator(np.random.PCG64(spec.seed + 7))
    used: set[float] = set()  # every clamp value in the model is distinct

    def levels():
        return float(rng.uniform(0.005, 0.03)), float(1.0 - rng.uniform(0.005, 0.03))

    def calibrating_forward(self, hidden_states):
        valid = hidden_states[0, :n_tokens].reshape(-1).double().numpy()
        lo, hi = levels()
        self.input_min.fill_(_readable(float(np.quantile(valid, lo)), used))
        self.input_max.fill_(_readable(float(np.quantile(valid, hi)), used))
        hidden_states = torch.clamp(hidden_states, self.input_min, self.input_max)
        hidden_states = self.linear(hidden_states)
        valid = hidden_states[0, :n_tokens].reshape(-1).double().numpy()
        lo, hi = levels()
        self.output_min.fill_(_readable(float(np.quantile(valid, lo)), used))
        self.output_max.fill_(_readable(float(np.quantile(valid, hi)), used))
        return torch.clamp(hidden_states, self.output_min, self.output_max)

    linears = clippable_linears(tower)
    for _, module in linears:
        module.forward = types.MethodType(calibrating_forward, module)
    try:
        tower(features, mask)
    finally:
        for _, module in linears:
            del module.forward  # back to the class's forward
    seen = set()
    for name, module in linears:
        bounds = tuple(float(getattr(module, b)) for b in ("input_min", "input_max", "output_min", "output_max"))
        assert len(set(bounds)) == 4 and bounds not in seen, (name, bounds)
        seen.add(bounds)


class ClipMeter:
    """Hooks on every ClippableLinear that count how many valid-token activations its clamps change."""

    def __init__(self, tower):
        self.n_tokens = 0
        self.stats: dict[str, list[int]] = {}
        self.handles = []
        for name, module in clippable_linears(tower):
            if module.use_clipped_linears:
                self.handles.append(module.register_forward_pre_hook(self._hook(name, module)))

    def _hook(self, name, module):
        def hook(mod, args):
            x = args[0][0, : self.n_tokens]
            clipped_in = ((x < mod.input_min) | (x > mod.input_max)).sum().item()
            y = mod.linear(torch.clamp(x, mod.input_min, mod.input_max))
            clipped_out = ((y < mod.output_min) | (y > mod.output_max)).sum().item()
            s = self.stats.setdefault(name, [0, 0, 0, 0])
            s[0] += clipped_in
            s[1] += x.numel()
            s[2] += clipped_out
            s[3] += y.numel()

        return hook

    def reset(self, n_tokens: int):
        self.n_tokens = n_tokens
        self.stats = {}

    def fractions(self) -> dict[str, tuple[float, float]]:
        return {k: (s[0] / max(s[1], 1), s[2] / max(s[3], 1)) for k, s in self.stats.items()}

    def close(self):
        for h in self.handles:
            h.remove()


# --------------------------------------------------------------------------------------------
# Checkpoint writing / reading
# --------------------------------------------------------------------------------------------


def _json_text(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def write_checkpoint(spec: ModelSpec, config: Gemma4Config, state: dict[str, torch.Tensor], out_dir: Path):
    """config.json + model.safetensors (or shards + index), as save_pretrained would write them."""
    expected = expected_checkpoint_shapes(config)
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        raise AssertionError(f"key/shape mismatch vs Gemma4ForConditionalGeneration: "
                             f"missing {sorted(set(expected) - set(got))[:5]}, "
                             f"extra {sorted(set(got) - set(expected))[:5]}")
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[spec.storage]
    tensors = {k: v.detach().to(dtype).contiguous().clone() for k, v in state.items()}

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    config.to_json_file(out_dir / "config.json")
    metadata = {"format": "pt"}
    if spec.shards == 1:
        save_file(tensors, out_dir / "model.safetensors", metadata=metadata)
        return
    # Greedy split in state-dict order, the way save_pretrained(max_shard_size=...) fills shards.
    names = list(tensors)
    sizes = [tensors[n].numel() * tensors[n].element_size() for n in names]
    total = sum(sizes)
    limit = total / spec.shards
    groups, current, acc = [], [], 0
    for name, size in zip(names, sizes):
        if current and acc + size > limit and len(groups) < spec.shards - 1:
            groups.append(current)
            current, acc = [], 0
        current.append(name)
        acc += size
    groups.append(current)
    assert len(groups) == spec.shards
    weight_map = {}
    for i, group in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{spec.shards:05d}.safetensors"
        save_file({n: tensors[n] for n in group}, out_dir / fname, metadata=metadata)
        weight_map.update({n: fname for n in group})
    clamp_leaves = ("input_min", "input_max", "output_min", "output_max")
    index = {
        "metadata": {
            # save_pretrained: num_parameters() (buffers excluded) and the byte size of all tensors.
            "total_parameters": sum(t.numel() for n, t in tensors.items() if not n.endswith(clamp_leaves)),
            "total_size": total,
        },
        "weight_map": weight_map,
    }
    (out_dir / "model.safetensors.index.json").write_text(_json_text(index))


def read_checkpoint(model_dir: Path) -> dict[str, torch.Tensor]:
    """Read back what write_checkpoint wrote, following the index when there is one."""
    index_path = model_dir / "model.safetensors.index.json"
    files = (sorted(set(json.loads(index_path.read_text())["weight_map"].values()))
             if index_path.exists() else ["model.safetensors"])
    state = {}
    for fname in files:
        with safe_open(model_dir / fname, framework="pt") as f:
            for k in f.keys():
                state[k] = f.get_tensor(k)
    return state


def check_hf_loads(model_dir: Path, config: Gemma4Config, tower) -> None:
    """Gemma4AudioModel.from_pretrained must find every tower tensor under its own key names."""
    hf_tower, info = Gemma4AudioModel.from_pretrained(model_dir, config=config.audio_config, dtype=torch.float32,
                                                      output_loading_info=True)
    problems = {k: v for k, v in info.items() if v and k != "unexpected_keys"}
    unexpected = set(info.get("unexpected_keys", ()))
    assert not problems and unexpected <= {EMBED_PREFIX + "embedding_projection.weight"}, (problems, unexpected)
    mine, theirs = tower.state_dict(), hf_tower.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def load_reference_modules(model_dir: Path):
    """Build tower + embedder from config.json and load the stored tensors, upcast to float32."""
    config = Gemma4Config.from_json_file(model_dir / "config.json")
    tower, embedder = build_modules(config)
    state = read_checkpoint(model_dir)
    tower_sd = {k[len(AUDIO_PREFIX):]: v.float() for k, v in state.items() if k.startswith(AUDIO_PREFIX)}
    embed_sd = {k[len(EMBED_PREFIX):]: v.float() for k, v in state.items() if k.startswith(EMBED_PREFIX)}
    assert len(tower_sd) + len(embed_sd) == len(state), "tensors outside audio_tower / embed_audio"
    tower.load_state_dict(tower_sd, strict=True)
    embedder.load_state_dict(embed_sd, strict=True)
    check_hf_loads(model_dir, config, tower)
    return config, tower, embedder


# --------------------------------------------------------------------------------------------
# WAV I/O (own minimal RIFF code, so the bytes are exactly what we choose)
# --------------------------------------------------------------------------------------------

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_IEEE_FLOAT = 3
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
KSDATAFORMAT_SUBTYPE_PCM = bytes.fromhex("0100000000001000800000aa00389b71")


def write_wav(path: Path, samples: np.ndarray, rate: int, kind: str) -> None:
    """samples: [frames, channels] of int (int16 / int24 range) or float32.

    kind: "int16"   PCM tag 1, 16-byte fmt, 44-byte header
          "float32" IEEE float tag 3, 18-byte fmt (cbSize 0) + fact chunk
          "int24"   WAVE_FORMAT_EXTENSIBLE (40-byte fmt, PCM subtype, valid bits 24), as sox and
                    ffmpeg write 24-bit files
    """
    frames, channels = samples.shape
    if kind == "int16":
        data = samples.astype("<i2").tobytes()
        bits = 16
        fmt = struct.pack("<HHIIHH", WAVE_FORMAT_PCM, channels, rate, rate * channels * 2, channels * 2, bits)
        extra = b""
    elif kind == "float32":
        data = samples.astype("<f4").tobytes()
        bits = 32
        fmt = struct.pack("<HHIIHHH", WAVE_FORMAT_IEEE_FLOAT, channels, rate, rate * channels * 4,
                          channels * 4, bits, 0)
        extra = b"fact" + struct.pack("<II", 4, frames)
    elif kind == "int24":
        v = samples.astype("<i4").reshape(-1)
        assert v.min() >= -(1 << 23) and v.max() < (1 << 23)
        data = v.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        bits = 24
        mask = 0x4 if channels == 1 else 0x3  # front centre / front left+right
        fmt = struct.pack("<HHIIHHHHI", WAVE_FORMAT_EXTENSIBLE, channels, rate, rate * channels * 3,
                          channels * 3, bits, 22, bits, mask) + KSDATAFORMAT_SUBTYPE_PCM
        extra = b""
    else:
        raise ValueError(kind)
    pad = b"\x00" if len(data) % 2 else b""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(data)) + data + pad
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def read_wav(path: Path) -> tuple[np.ndarray, int, str]:
    """-> (float32 [frames, channels], rate, kind). int16 / 32768, int24 / 8388608, float32 as stored."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        body = raw[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == WAVE_FORMAT_EXTENSIBLE:
        assert fmt[24:40] == KSDATAFORMAT_SUBTYPE_PCM
        tag = WAVE_FORMAT_PCM
    if tag == WAVE_FORMAT_PCM and bits == 16:
        x = np.frombuffer(data, "<i2").astype(np.float32) / np.float32(32768.0)
        kind = "int16"
    elif tag == WAVE_FORMAT_PCM and bits == 24:
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= (1 << 23), v - (1 << 24), v)
        x = v.astype(np.float32) / np.float32(8388608.0)
        kind = "int24"
    elif tag == WAVE_FORMAT_IEEE_FLOAT and bits == 32:
        x = np.frombuffer(data, "<f4").astype(np.float32)
        kind = "float32"
    else:
        raise ValueError(f"unsupported WAV {tag=} {bits=}")
    return x.reshape(-1, channels), rate, kind


# --------------------------------------------------------------------------------------------
# Audio sources
# --------------------------------------------------------------------------------------------


def espeak(text: str, rate: int, tmp: Path) -> np.ndarray:
    """espeak-ng -> sox (no dither) -> mono int16 at `rate`. Returns int16 samples."""
    out = tmp / f"espeak-{hashlib.sha256(f'{rate}:{text}'.encode()).hexdigest()[:16]}.wav"
    synth = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "--stdout", text],
                           check=True, capture_output=True).stdout
    subprocess.run(["sox", "-D", "-t", "wav", "-", "-r", str(rate), "-c", "1", "-b", "16",
                    "-e", "signed-integer", str(out)], input=synth, check=True, capture_output=True)
    x, r, kind = read_wav(out)
    assert r == rate and kind == "int16" and x.shape[1] == 1
    return np.round(x[:, 0] * 32768.0).astype(np.int16)


def fit(x: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    """x[start:start+n], zero-padded at the end if short."""
    y = np.zeros(n, dtype=x.dtype)
    seg = x[start:start + n]
    y[: len(seg)] = seg
    return y


class SRC_DATA(ctypes.Structure):
    """samplerate.h SRC_DATA (libsamplerate 0.2.2)."""

    _fields_ = [("data_in", ctypes.POINTER(ctypes.c_float)), ("data_out", ctypes.POINTER(ctypes.c_float)),
                ("input_frames", ctypes.c_long), ("output_frames", ctypes.c_long),
                ("input_frames_used", ctypes.c_long), ("output_frames_gen", ctypes.c_long),
                ("end_of_input", ctypes.c_int), ("src_ratio", ctypes.c_double)]


def _libsamplerate() -> ctypes.CDLL:
    lib = ctypes.CDLL(LIBSAMPLERATE)
    lib.src_simple.argtypes = [ctypes.POINTER(SRC_DATA), ctypes.c_int, ctypes.c_int]
    lib.src_strerror.restype = ctypes.c_char_p
    lib.src_new.restype = ctypes.c_void_p
    lib.src_new.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.src_process.argtypes = [ctypes.c_void_p, ctypes.POINTER(SRC_DATA)]
    lib.src_delete.argtypes = [ctypes.c_void_p]
    return lib


def _float_ptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def src_simple(mono: np.ndarray, ratio: float) -> np.ndarray:
    """libsamplerate src_simple(SRC_SINC_BEST_QUALITY), the same system library the Swift side links."""
    lib = _libsamplerate()
    x = np.ascontiguousarray(mono, dtype=np.float32)
    cap = int(math.ceil(len(x) * ratio)) + 64
    y = np.zeros(cap, dtype=np.float32)
    d = SRC_DATA(_float_ptr(x), _float_ptr(y), len(x), cap, 0, 0, 1, ratio)
    err = lib.src_simple(ctypes.byref(d), SRC_SINC_BEST_QUALITY, 1)
    if err:
        raise RuntimeError(lib.src_strerror(err).decode())
    assert d.input_frames_used == len(x)
    return y[: d.output_frames_gen].copy()


def src_streaming(mono: np.ndarray, ratio: float, chunk: int) -> np.ndarray:
    """Same conversion through src_new/src_process in `chunk`-frame pieces, then an end_of_input flush.

    Only used to report whether streaming gives the same samples as src_simple.
    """
    lib = _libsamplerate()
    err = ctypes.c_int(0)
    state = lib.src_new(SRC_SINC_BEST_QUALITY, 1, ctypes.byref(err))
    assert state and err.value == 0
    x = np.ascontiguousarray(mono, dtype=np.float32)
    out, pos = [], 0
    buf = np.zeros(chunk * 2 + 64, dtype=np.float32)
    try:
        while True:
            piece = x[pos:pos + chunk]
            eoi = pos + len(piece) >= len(x)
            d = SRC_DATA(_float_ptr(piece), _float_ptr(buf), len(piece), len(buf), 0, 0, int(eoi), ratio)
            assert lib.src_process(state, ctypes.byref(d)) == 0
            out.append(buf[: d.output_frames_gen].copy())
            pos += d.input_frames_used
            if eoi and d.output_frames_gen == 0 and d.input_frames_used == len(piece):
                break
    finally:
        lib.src_delete(state)
    return np.concatenate(out)


@dataclasses.dataclass
class Case:
    name: str
    samples: np.ndarray  # [frames, channels], int16 / int24-range int32 / float32
    rate: int
    kind: str  # write_wav kind
    models: tuple[str, ...]


def make_cases(tmp: Path) -> list[Case]:
    noise = np.random.Generator(np.random.PCG64(4242))
    all_models = tuple(m.name for m in FIXTURE_MODELS)
    tiny_only = (TINY.name,)

    speech16 = espeak(TEXT_SPEECH, SAMPLE_RATE, tmp)
    speech = fit(speech16, 48_000)  # exactly 3 s = 75 tokens of 640 samples

    silence = np.zeros(16_000, dtype=np.int16)

    odd_src = espeak(TEXT_ODD, SAMPLE_RATE, tmp).astype(np.float32) / 32768.0
    n_odd = 16_000 + 333  # 16333 % 128 = 77, % 640 = 333
    t = np.arange(n_odd, dtype=np.float64) / SAMPLE_RATE
    odd = (0.8 * fit(odd_src, n_odd, start=1600)
           + 0.02 * noise.standard_normal(n_odd)
           + 0.05 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)

    # 500 samples of voiced speech: fewer than one 640-sample token.
    energy = np.convolve(speech16.astype(np.float64) ** 2, np.ones(500), mode="valid")
    start = int(np.argmax(energy))
    short = speech16[start:start + 500].copy()

    speech44 = espeak(TEXT_STEREO, 44_100, tmp).astype(np.float64)
    n44 = 110_250  # 2.5 s
    s44 = fit(speech44, n44)
    left = np.clip(np.round(0.9 * s44), -32768, 32767)
    right = np.clip(np.round(0.45 * s44 + 300.0 * noise.standard_normal(n44)), -32768, 32767)
    stereo = np.stack([left, right], axis=1).astype(np.int16)

    long_src = espeak(TEXT_LONG, SAMPLE_RATE, tmp).astype(np.float64) / 32768.0
    n_long = 96_000 + 123  # ~6 s, 150 tokens: 13 attention blocks of 12
    long = 0.7 * fit(long_src, n_long) + 0.01 * noise.standard_normal(n_long)
    long24 = np.clip(np.round(long * 8388608.0), -(1 << 23), (1 << 23) - 1).astype(np.int32)

    return [
        Case("speech", speech[:, None], SAMPLE_RATE, "int16", all_models),
        Case("silence", silence[:, None], SAMPLE_RATE, "int16", tiny_only),
        Case("odd-length", odd[:, None], SAMPLE_RATE, "float32", all_models),
        Case("short", short[:, None], SAMPLE_RATE, "int16", tiny_only),
        Case("stereo44k", stereo, 44_100, "int16", tiny_only),
        Case("long24bit", long24[:, None], SAMPLE_RATE, "int24", tiny_only),
    ]


def to_model_input(wav: np.ndarray, rate: int) -> np.ndarray:
    """What the Swift side feeds the frontend: channel mean in float32, then 16 kHz via libsamplerate."""
    mono = wav.mean(axis=1, dtype=np.float32) if wav.shape[1] > 1 else wav[:, 0]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != SAMPLE_RATE:
        mono = src_simple(mono, SAMPLE_RATE / rate)
    return mono


# --------------------------------------------------------------------------------------------
# Reference computation
# --------------------------------------------------------------------------------------------


def features_for(fe: Gemma4AudioFeatureExtractor, wav16k: np.ndarray):
    """fe([wav]) as the processor calls it. -> (features [1,F,128], mask [1,F] bool, n_valid)."""
    out = fe([wav16k], return_tensors="pt")
    features, mask = out["input_features"], out["input_features_mask"]
    assert features.dtype == torch.float32 and mask.dtype == torch.bool
    n_valid = int(mask.sum())
    m = mask[0].numpy()
    assert m[:n_valid].all() and not m[n_valid:].any(), "valid mel frames are not a prefix"
    n = len(wav16k)
    assert n_valid == max((n - 161) // 160 + 1, 0), (n, n_valid)  # spec §2.9
    padded = -(-n // 128) * 128
    assert features.shape[1] == (padded + 160 - 321) // 160 + 1  # spec §2.5
    if n_valid:
        f = features[0, :n_valid].numpy()
        assert np.all(f[:, 0] == LOG_MEL_FLOOR), "mel channel 0 is not log(1e-3)"  # spec §2.7
    assert not features[0, n_valid:].any(), "invalid frames are not 0.0"
    return features, mask, n_valid


def token_count(fe, wav16k: np.ndarray) -> int:
    """HF's own placeholder count (Gemma4Processor._compute_audio_num_tokens), without a tokenizer."""
    proc = types.SimpleNamespace(feature_extractor=fe, audio_seq_length=750)
    return Gemma4Processor._compute_audio_num_tokens(proc, wav16k, SAMPLE_RATE)


@torch.no_grad()
def run_reference(tower, embedder, features, mask):
    """Gemma4Model.get_audio_features, then features[mask]. -> (encoder [T,P], embeddings [T,D], T)."""
    out = tower(features, mask, return_dict=True)
    enc_all = out.last_hidden_state  # (1, T_all, P)
    emb_all = embedder(inputs_embeds=enc_all)  # (1, T_all, D)
    tok_mask = out.attention_mask[0]
    n_tok = int(tok_mask.sum())
    assert bool(tok_mask[:n_tok].all()), "valid tokens are not a prefix"
    return enc_all[0][tok_mask].numpy(), emb_all[0][tok_mask].numpy(), n_tok


@torch.no_grad()
def sensitivity(tower, embedder, features, mask, emb_ref: np.ndarray) -> dict[str, float]:
    """Relative change of the embeddings when the clamps or the softcap are switched off.

    Shows that the fixtures exercise both: an implementation that skips either one is off by this much.
    """
    result = {}
    scale = float(np.abs(emb_ref).max())
    if any(m.use_clipped_linears for _, m in clippable_linears(tower)):
        t2 = copy.deepcopy(tower)
        for _, m in clippable_linears(t2):
            for b, v in (("input_min", -math.inf), ("input_max", math.inf),
                         ("output_min", -math.inf), ("output_max", math.inf)):
                getattr(m, b).fill_(v)
        e2 = run_reference(t2, embedder, features, mask)[1]
        result["no_clamps"] = float(np.abs(e2 - emb_ref).max()) / scale
    t3 = copy.deepcopy(tower)
    for layer in t3.layers:
        layer.self_attn.softcap.fill_(1e30)
    e3 = run_reference(t3, embedder, features, mask)[1]
    result["no_softcap"] = float(np.abs(e3 - emb_ref).max()) / scale
    return result


def save_npy(path: Path, array: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(array, dtype="<f4"), allow_pickle=False)


def tokens_for_frames(n_valid: int) -> int:
    """ceil(ceil(n_valid / 2) / 2): two stride-2 convolutions over the valid mel frames (spec §2.10)."""
    return -(-(-(-n_valid // 2)) // 2)


# --------------------------------------------------------------------------------------------
# Drivers
# --------------------------------------------------------------------------------------------


def setup_torch() -> None:
    transformers.logging.set_verbosity_error()  # from_pretrained's load report lists embed_audio as unexpected
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # single-threaded reductions: byte-identical reruns
    torch.use_deterministic_algorithms(True)
    if transformers.__version__ != HF_VERSION_EXPECTED:
        print(f"warning: transformers {transformers.__version__}, fixtures were made with {HF_VERSION_EXPECTED}",
              file=sys.stderr)


def create_model(spec: ModelSpec, calib_wav16k: np.ndarray, fe, out_dir: Path, cache: dict) -> None:
    """Random weights + calibrated clamps -> HF-layout directory."""
    config = make_config(spec)
    if spec.weights_from:
        state = cache[spec.weights_from]
    else:
        tower, embedder = build_modules(config)
        randomize(tower, embedder, spec)
        if spec.clipped:
            features, mask, n_valid = features_for(fe, calib_wav16k)
            calibrate_clamps(tower, spec, features, mask, tokens_for_frames(n_valid))
        state = checkpoint_state(tower, embedder)
        cache[spec.name] = state
    write_checkpoint(spec, config, state, out_dir)


def generate_fixtures(out: Path) -> None:
    setup_torch()
    fe = Gemma4AudioFeatureExtractor()
    with tempfile.TemporaryDirectory() as tmpname:
        cases = make_cases(Path(tmpname))

    models_dir, cases_dir = out / "models", out / "cases"
    models_dir.mkdir(parents=True, exist_ok=True)
    cases_dir.mkdir(parents=True, exist_ok=True)

    speech = next(c for c in cases if c.name == "speech")
    cache: dict = {}
    for spec in FIXTURE_MODELS:
        create_model(spec, to_model_input(speech.samples.astype(np.float32) / 32768.0, SAMPLE_RATE),
                     fe, models_dir / spec.name, cache)

    loaded = {spec.name: load_reference_modules(models_dir / spec.name) for spec in FIXTURE_MODELS}
    manifest = {
        "generator": "tools/reference/make_fixtures.py",
        "command": "~/.cache/earshot-ref/bin/python tools/reference/make_fixtures.py --out Tests/Fixtures",
        "transformers": transformers.__version__,
        "torch": torch.__version__.split("+")[0],
        "numpy": np.__version__,
        "models": {},
        "cases": {},
    }
    for spec in FIXTURE_MODELS:
        config, tower, _ = loaded[spec.name]
        ac = config.audio_config
        manifest["models"][spec.name] = {
            "hidden_size": ac.hidden_size, "num_hidden_layers": ac.num_hidden_layers,
            "num_attention_heads": ac.num_attention_heads,
            "subsampling_conv_channels": list(ac.subsampling_conv_channels),
            "output_proj_dims": ac.output_proj_dims, "text_hidden_size": config.text_config.hidden_size,
            "use_clipped_linears": ac.use_clipped_linears, "storage_dtype": spec.storage,
            "files": sorted(p.name for p in (models_dir / spec.name).iterdir()),
            "n_tensors": len(read_checkpoint(models_dir / spec.name)),
            "weights_from": spec.weights_from, "seed": spec.seed,
            "clip_fraction_speech": {},
        }

    rows = []
    reference_outputs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for case in cases:
        cdir = cases_dir / case.name
        if cdir.exists():
            shutil.rmtree(cdir)
        cdir.mkdir(parents=True)
        write_wav(cdir / "input.wav", case.samples, case.rate, case.kind)
        decoded, rate, kind = read_wav(cdir / "input.wav")  # the reference reads the file as Swift will
        assert rate == case.rate and kind == case.kind and decoded.shape == case.samples.shape
        wav16k = to_model_input(decoded, rate)
        meta = {
            "sample_rate": rate, "channels": int(decoded.shape[1]), "sample_count": int(decoded.shape[0]),
            "wav_format": kind, "sample_count_16k": int(len(wav16k)),
        }
        if rate != SAMPLE_RATE:
            save_npy(cdir / "resampled16k.npy", wav16k)
            stream = src_streaming(np.ascontiguousarray(decoded.mean(axis=1, dtype=np.float32)),
                                   SAMPLE_RATE / rate, 4096)
            same = len(stream) == len(wav16k) and np.array_equal(stream, wav16k)
            meta["libsamplerate_streaming_4096_equals_src_simple"] = bool(same)
            if not same:
                n = min(len(stream), len(wav16k))
                print(f"note: {case.name}: streaming resample len {len(stream)} vs {len(wav16k)}, "
                      f"max diff {np.abs(stream[:n] - wav16k[:n]).max():.3g}")
        features, mask, n_valid = features_for(fe, wav16k)
        n_tok_formula = tokens_for_frames(n_valid)
        n_tok_hf = token_count(fe, wav16k)
        assert n_tok_formula == n_tok_hf, (case.name, n_tok_formula, n_tok_hf)
        save_npy(cdir / "mel.npy", features[0, :n_valid].numpy())
        meta.update({"n_frames_padded": int(features.shape[1]), "n_valid_frames": n_valid,
                     "n_tokens": n_tok_hf, "models": list(case.models)})
        (cdir / "meta.json").write_text(_json_text(meta))
        manifest["cases"][case.name] = meta

        for model_name in case.models:
            config, tower, embedder = loaded[model_name]
            meter = ClipMeter(tower)
            meter.reset(n_tok_hf)
            enc, emb, n_tok = run_reference(tower, embedder, features, mask)
            meter.close()
            assert n_tok == n_tok_hf, (case.name, model_name, n_tok, n_tok_hf)
            assert enc.shape == (n_tok, config.audio_config.output_proj_dims)
            assert emb.shape == (n_tok, config.text_config.hidden_size)
            assert np.isfinite(enc).all() and np.isfinite(emb).all()
            save_npy(cdir / f"{model_name}.encoder.npy", enc)
            save_npy(cdir / f"{model_name}.embeddings.npy", emb)
            reference_outputs[(case.name, model_name)] = (enc, emb)
            fr = meter.fractions()
            if case.name == "speech":
                manifest["models"][model_name]["clip_fraction_speech"] = {
                    k[len(AUDIO_PREFIX):]: {"input": round(v[0], 5), "output": round(v[1], 5)}
                    for k, v in fr.items()}
                sens = sensitivity(tower, embedder, features, mask, emb)
                manifest["models"][model_name]["speech_rel_change_if_disabled"] = {
                    k: round(v, 4) for k, v in sens.items()}
            rows.append((case.name, model_name, n_valid, n_tok,
                         float(np.linalg.norm(emb, axis=1).mean()) if n_tok else 0.0,
                         fr))

    for case_name in ("speech", "odd-length"):
        a = reference_outputs[(case_name, TINY.name)]
        b = reference_outputs[(case_name, TINY_SHARDED.name)]
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), "sharded != single-file"
    (out / "manifest.json").write_text(_json_text(manifest))
    print_summary(rows, manifest)


def print_summary(rows, manifest) -> None:
    print()
    print(f"{'case':<11} {'model':<13} {'frames':>6} {'tokens':>6} {'|emb| mean':>10}  "
          f"{'clip in% (min..max over linears)':>33}  {'clip out%':>15}")
    for case, model, frames, tokens, norm, fr in rows:
        if fr:
            ins = [v[0] * 100 for v in fr.values()]
            outs = [v[1] * 100 for v in fr.values()]
            clip_in = f"{min(ins):5.2f}..{max(ins):5.2f} (mean {np.mean(ins):4.2f})"
            clip_out = f"{min(outs):5.2f}..{max(outs):5.2f}"
        else:
            clip_in, clip_out = "no clamps", "-"
        print(f"{case:<11} {model:<13} {frames:>6} {tokens:>6} {norm:>10.4f}  {clip_in:>33}  {clip_out:>15}")
    print()
    for name, m in manifest["models"].items():
        sens = m.get("speech_rel_change_if_disabled", {})
        no_clamps = f"{sens['no_clamps']:.3f}" if "no_clamps" in sens else "- (no clamps)"
        print(f"{name:<13} speech: max change of embeddings / max |embedding| without clamps {no_clamps}, "
              f"without softcap {sens['no_softcap']:.3f}")
    print()
    print("per-linear clip fractions on speech (tiny-f32), input% / output%:")
    for k, v in manifest["models"][TINY.name]["clip_fraction_speech"].items():
        print(f"  {k:<45} {v['input'] * 100:5.2f} / {v['output'] * 100:5.2f}")


def e2b_check(out: Path, storage: str) -> None:
    """Real-size random model + a 10 s clip + HF's outputs, for hand checks. Never under Tests/."""
    resolved = out.resolve()
    repo = Path(__file__).resolve().parents[2]
    if resolved == repo / "Tests" or (repo / "Tests") in resolved.parents:
        raise SystemExit(f"refusing to write the E2B-size check into {resolved}: it must stay out of Tests/")
    setup_torch()
    torch.set_num_threads(max(1, os.cpu_count() or 1))  # big model: speed over bitwise reruns
    fe = Gemma4AudioFeatureExtractor()
    with tempfile.TemporaryDirectory() as tmpname:
        src = espeak(TEXT_E2B, SAMPLE_RATE, Path(tmpname))
    clip = fit(src, 160_000)  # exactly 10 s
    spec = dataclasses.replace(E2B, storage=storage)
    cdir = out / "speech10s"
    cdir.mkdir(parents=True, exist_ok=True)
    write_wav(cdir / "input.wav", clip[:, None], SAMPLE_RATE, "int16")
    decoded, rate, _ = read_wav(cdir / "input.wav")
    wav16k = to_model_input(decoded, rate)
    print(f"building {spec.name} ({storage}) ...", flush=True)
    create_model(spec, wav16k, fe, out / "model", {})
    config, tower, embedder = load_reference_modules(out / "model")
    n_params = sum(p.numel() for p in tower.parameters())
    features, mask, n_valid = features_for(fe, wav16k)
    meter = ClipMeter(tower)
    meter.reset(tokens_for_frames(n_valid))
    enc, emb, n_tok = run_reference(tower, embedder, features, mask)
    meter.close()
    assert n_tok == token_count(fe, wav16k)
    save_npy(cdir / "mel.npy", features[0, :n_valid].numpy())
    save_npy(cdir / "encoder.npy", enc)
    save_npy(cdir / "embeddings.npy", emb)
    meta = {"sample_rate": rate, "channels": 1, "sample_count": int(len(wav16k)), "wav_format": "int16",
            "n_valid_frames": n_valid, "n_tokens": n_tok, "model": "model", "storage_dtype": storage,
            "audio_tower_parameters": n_params, "transformers": transformers.__version__}
    (cdir / "meta.json").write_text(_json_text(meta))
    fr = meter.fractions()
    ins = [v[0] for v in fr.values()]
    outs = [v[1] for v in fr.values()]
    print(f"{spec.name}: {n_params} audio-tower parameters, {len(read_checkpoint(out / 'model'))} tensors")
    print(f"speech10s: frames {n_valid}, tokens {n_tok}, encoder {enc.shape}, embeddings {emb.shape}, "
          f"|emb| mean {np.linalg.norm(emb, axis=1).mean():.4f}")
    print(f"clip fraction over {len(fr)} linears: input {min(ins):.2%}..{max(ins):.2%}, "
          f"output {min(outs):.2%}..{max(outs):.2%}")
    print(f"wrote {out}/model and {cdir}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="fixture root, normally Tests/Fixtures")
    p.add_argument("--e2b-check", type=Path, metavar="OUTDIR",
                   help="write a random-weight E2B-size model, a 10 s clip and HF's outputs to OUTDIR "
                        "(not under Tests/)")
    p.add_argument("--e2b-dtype", choices=["bfloat16", "float32"], default="bfloat16",
                   help="storage dtype of the E2B-size safetensors (reference always runs in float32)")
    args = p.parse_args(argv)
    if bool(args.out) == bool(args.e2b_check):
        p.error("give exactly one of --out or --e2b-check")
    if args.out:
        generate_fixtures(args.out)
    else:
        e2b_check(args.e2b_check, args.e2b_dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
