#!/usr/bin/env python3
"""A Gemma 4 checkpoint exactly as transformers saves it, its llama.cpp mmproj, and what transformers computes.

    ~/.cache/earshot-ref/bin/python tools/reference/make_hf_saved_fixture.py \
        --llama-cpp /tmp/lcp/llama_cpp_python-0.3.36/vendor/llama.cpp --out Tests/Fixtures/hf-saved

The other fixture models are written field by field (make_fixtures.py) with calibrated, finite clamp bounds. This
one is what a user gets from transformers itself (issue #18): a tiny `Gemma4ForConditionalGeneration` with text,
vision and audio towers, transformers' own default initialisation (seeded torch RNG, nothing overwritten: linear
weights N(0, 0.02²), norm scales 1, `per_dim_scale` 0, and every ClippableLinear bound ±inf, which transformers
reads as "no clip"), cast to bf16 and saved with `save_pretrained(max_shard_size=...)` into several shards and an
index. The image processor is saved beside it with its own `save_pretrained` (llama.cpp's converter reads
`image_mean`/`image_std` from it).

Then:
  * `<case>.embeddings.npy`: transformers' own audio path on the saved files: `Gemma4ForConditionalGeneration
    .from_pretrained(model/, dtype=float32)` and `model.get_audio_features(features, mask)` (audio tower, then
    embed_audio: what Gemma4Model places in the audio soft-token slots), valid tokens only, float32 on the CPU.
  * `mmproj-bf16.gguf`: llama.cpp's real converter, `convert_hf_to_gguf.py --mmproj --outtype bf16`, run on
    `model/` (the copy vendored in the llama-cpp-python 0.3.36 sdist; see tools/reference/README.md). It keeps the
    ±inf bounds as they are (F32 {1} tensors). Its tensor names and types are checked against
    make_gguf_fixtures.py's step-by-step copy of that converter.
  * `manifest.json`: versions, sizes, hashes, the clamp bounds found, and, per case, how far transformers moves
    when run on the GGUF's own weights (read back with gguf-py, as make_gguf_fixtures.py does) instead of the
    safetensors: the converter's only rounding is softplus(per_dim_scale) stored in F32, which the read-back
    inverts; at this size the embeddings come out identical (0.0), so the GGUF shares the safetensors reference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (mel, WAV reading, checkpoint reading)
import make_gguf_fixtures as mg  # noqa: E402  (the converter's steps, GGUF read-back and reference)

import gguf  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import (  # noqa: E402
    Gemma4AudioConfig,
    Gemma4AudioFeatureExtractor,
    Gemma4Config,
    Gemma4ForConditionalGeneration,
    Gemma4TextConfig,
    Gemma4VisionConfig,
)
from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil  # noqa: E402

SEED = 1807
MAX_SHARD_SIZE = "100KB"  # about 240 KB of tensors: three shards
CASES = ["speech", "odd-length"]
GGUF_NAME = "mmproj-bf16.gguf"
CLAMP_LEAVES = ("input_min", "input_max", "output_min", "output_max")


def tiny_config() -> Gemma4Config:
    """Gemma 4 with all three towers at test sizes; everything not set here is transformers' default."""
    audio = Gemma4AudioConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              subsampling_conv_channels=[128, 4], output_proj_dims=24)
    text = Gemma4TextConfig(vocab_size=256, vocab_size_per_layer_input=256, hidden_size_per_layer_input=8,
                            hidden_size=40, intermediate_size=80, num_hidden_layers=2, num_attention_heads=2,
                            num_key_value_heads=1, head_dim=20, global_head_dim=20,
                            layer_types=["sliding_attention", "full_attention"], sliding_window=16,
                            max_position_embeddings=1024)
    vision = Gemma4VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=2, head_dim=8, patch_size=4, position_embedding_size=8)
    return Gemma4Config(text_config=text.to_dict(), audio_config=audio.to_dict(), vision_config=vision.to_dict())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_model(model_dir: Path) -> dict:
    """Default-initialised model -> bf16 -> save_pretrained (sharded) + the image processor's config."""
    torch.manual_seed(SEED)
    model = Gemma4ForConditionalGeneration(tiny_config()).to(torch.bfloat16)
    model.save_pretrained(model_dir, max_shard_size=MAX_SHARD_SIZE)
    Gemma4ImageProcessorPil().save_pretrained(model_dir)
    index = json.loads((model_dir / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 2, shards

    bounds = {}
    for shard in shards:
        with safe_open(model_dir / shard, framework="pt") as f:
            for name in f.keys():
                if name.endswith(CLAMP_LEAVES):
                    bounds[name] = float(f.get_tensor(name).float())
    audio_bounds = {k: v for k, v in bounds.items() if k.startswith(mf.AUDIO_PREFIX)}
    # The point of this fixture: every audio clamp bound is the infinity of its open side.
    assert audio_bounds and all(v == (-math.inf if k.endswith("_min") else math.inf) for k, v in audio_bounds.items())
    return {"shards": shards, "audio_clamp_bounds": len(audio_bounds),
            "other_clamp_bounds": len(bounds) - len(audio_bounds)}


@torch.no_grad()
def transformers_embeddings(model: Gemma4ForConditionalGeneration, wav16k: np.ndarray, fe) -> np.ndarray:
    """Gemma4Model.get_audio_features on the clip, valid tokens only. -> [T, D] float32."""
    features, mask, _ = mf.features_for(fe, wav16k)
    out = model.model.get_audio_features(features, mask)
    tokens = out.attention_mask[0]
    n = int(tokens.sum())
    assert bool(tokens[:n].all()), "valid tokens are not a prefix"
    assert n == mf.token_count(fe, wav16k)
    return out.pooler_output[0][tokens].numpy()


def convert(llama_cpp: Path, model_dir: Path, out: Path) -> None:
    """llama.cpp's own converter, unmodified, with the venv's Python (it puts its own gguf-py first on the path)."""
    command = [sys.executable, str(llama_cpp / "convert_hf_to_gguf.py"), "--mmproj", "--outtype", "bf16",
               "--outfile", str(out), str(model_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"convert_hf_to_gguf.py failed ({result.returncode}):\n{result.stderr[-4000:]}")


def check_converter_copy(path: Path, hf_state: dict[str, torch.Tensor]) -> list[dict]:
    """make_gguf_fixtures.py's copy of the converter must name and type every audio tensor as the real one did.
    Returns the (hf, gguf) entries read_back needs."""
    reader = gguf.GGUFReader(path)
    stored = {t.name: t.tensor_type.name for t in reader.tensors}
    tensor_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, 128)
    entries = []
    for hf_name, tensor in hf_state.items():
        if not mg.is_audio_tensor(hf_name):
            continue
        name, data = mg.modify_tensor(hf_name, tensor.float(), tensor_map)
        expected = mg.stored_type(hf_name, name, data.dim(), "BF16").name
        assert stored.get(name) == expected, (hf_name, name, stored.get(name), expected)
        entries.append({"hf": hf_name, "gguf": name})
    audio = [n for n in stored if n.startswith(("a.", "mm.a."))]
    assert len(audio) == len(entries), (len(audio), len(entries))
    return entries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llama-cpp", type=Path, required=True,
                        help="llama.cpp source tree with convert_hf_to_gguf.py, conversion/ and gguf-py/")
    parser.add_argument("--cases", type=Path, default=Path("Tests/Fixtures/cases"))
    parser.add_argument("--out", type=Path, default=Path("Tests/Fixtures/hf-saved"))
    args = parser.parse_args(argv)
    mf.setup_torch()
    fe = Gemma4AudioFeatureExtractor()
    if args.out.exists():
        shutil.rmtree(args.out)
    model_dir = args.out / "model"
    model_dir.mkdir(parents=True)

    saved = save_model(model_dir)
    model = Gemma4ForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    hf_state = mf.read_checkpoint(model_dir)
    loaded = model.state_dict()
    for name, tensor in hf_state.items():  # from_pretrained upcasts exactly what was saved
        assert torch.equal(loaded[name], tensor.float()), name

    gguf_path = args.out / GGUF_NAME
    convert(args.llama_cpp, model_dir, gguf_path)
    entries = check_converter_copy(gguf_path, hf_state)
    gguf_state = mg.read_back(gguf_path, entries, hf_state)

    manifest = {
        "generator": "tools/reference/make_hf_saved_fixture.py",
        "transformers": mf.transformers.__version__, "torch": torch.__version__, "seed": SEED,
        "max_shard_size": MAX_SHARD_SIZE, **saved,
        "converter": {"source": "llama-cpp-python 0.3.36 sdist, vendor/llama.cpp",
                      "convert_hf_to_gguf.py": sha256(args.llama_cpp / "convert_hf_to_gguf.py"),
                      "conversion/gemma.py": sha256(args.llama_cpp / "conversion" / "gemma.py"),
                      "command": "convert_hf_to_gguf.py --mmproj --outtype bf16 --outfile mmproj-bf16.gguf model"},
        "files": {}, "cases": {},
    }
    for case in CASES:
        wav, rate, _ = mf.read_wav(args.cases / case / "input.wav")
        wav16k = mf.to_model_input(wav, rate)
        emb = transformers_embeddings(model, wav16k, fe)
        assert np.isfinite(emb).all()
        mf.save_npy(args.out / f"{case}.embeddings.npy", emb)
        emb_gguf = mg.reference_embeddings(model_dir / "config.json", gguf_state, wav16k, fe)
        manifest["cases"][case] = {
            "tokens": int(emb.shape[0]), "width": int(emb.shape[1]),
            "max_abs": float(np.abs(emb).max()),
            "token_spread": float(np.abs(emb - emb.mean(axis=0)).max()),  # the tokens really differ
            "gguf_max_abs_vs_safetensors": float(np.abs(emb_gguf - emb).max()),
        }
    for path in sorted(p for p in args.out.rglob("*") if p.is_file()):
        manifest["files"][str(path.relative_to(args.out))] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(f["bytes"] for f in manifest["files"].values())
    print(f"{args.out}: {len(manifest['files'])} files, {total} bytes; shards {saved['shards']}; "
          f"{saved['audio_clamp_bounds']} audio clamp bounds, all ±inf")
    for case, info in manifest["cases"].items():
        print(f"  {case}: {info['tokens']} tokens × {info['width']}, max|emb| {info['max_abs']:.4g}, "
              f"token spread {info['token_spread']:.4g}, GGUF vs safetensors {info['gguf_max_abs_vs_safetensors']:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
