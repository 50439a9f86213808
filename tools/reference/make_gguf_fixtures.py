#!/usr/bin/env python3
"""Small llama.cpp `mmproj` GGUFs of the HF fixture models, and what transformers computes from them.

    ~/.cache/earshot-ref/bin/python tools/reference/make_gguf_fixtures.py \
        --models Tests/Fixtures/models --cases Tests/Fixtures/cases --out Tests/Fixtures/gguf

For each (model, out type) in CONVERSIONS this writes `mmproj-<model>-<type>.gguf` the way llama.cpp's
`convert_hf_to_gguf.py --mmproj --outtype <type>` writes a Gemma 4 mmproj (class Gemma4VisionAudioModel in
conversion/gemma.py, base classes MmprojModel / ModelBase in conversion/base.py, names from gguf-py's
tensor_mapping.py through the `gguf` package's TensorNameMap). Followed step by step:

  filter_tensors   (MmprojModel)       drop `language_model.` tensors
  modify_tensors   (Gemma4VisionAudio) 0-d -> {1}; audio: `model.audio_tower.` -> `conformer.`, `.linear.` -> `.`,
                                       per_dim_scale -> per_dim_scale.weight = softplus(per_dim_scale),
                                       depthwise_conv1d [H,1,K] -> [H,K]; vision: `model.vision_tower.encoder.` ->
                                       `vision_model.model.`, `.linear.weight` -> `.weight`, patch input_proj
                                       reshaped to [n_embd, 3, p, p]; then map_tensor_name with the suffixes
                                       .weight .bias .input_max .input_min .output_max .output_min
  prepare_tensors  (ModelBase)         F32 when n_dims <= 1 or the name ends in `_norm.weight`; F32 forced for audio
                                       tensors whose HF name has `.conv`, or `_conv` and `.weight` (so the SSCP,
                                       input_proj_linear, conv_dw and the lconv norms), and for
                                       position_embedding_table; everything else takes the out type; a tensor that
                                       cannot be quantized (Q8_0 needs ne[0] % 32 == 0) falls back to F16
  metadata         (MmprojModel, Gemma4VisionAudioModel, ModelBase.prepare_metadata)

Deviations, all forced by the fixtures being tiny test models:
  * The HF fixtures hold no vision weights, so the vision tensors are those of a tiny random Gemma4VisionModel
    (hidden 16, one layer, patch 4) run through the converter's vision branch: real names, placeholder values.
    The `clip.vision.*` keys describe that tiny tower. Earshot must skip all of it.
  * noclip-f32 has no vision_config, which the converter asserts on; its GGUF is written audio-only
    (no clip.has_vision_encoder, no v.* tensors), with the two-encoder name map of 128 blocks.

Next to each GGUF, `<gguf stem>.<case>.embeddings.npy` is what transformers computes (float32, CPU, as
make_fixtures.py computes the HF references) with the GGUF's weights: every tensor read back from the file and
dequantized with gguf-py, names and layouts mapped back to HF's, per_dim_scale recovered as log(expm1(y)) in
float64. Comparing Earshot's GGUF output with these isolates the loader from the quantization error, which
manifest.json records per file (max |dequantized - f32| per weight, and HF(GGUF) vs HF(f32) embeddings).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (the HF fixture generator: model building, mel, reference forward)

import gguf  # noqa: E402
from transformers import Gemma4Config  # noqa: E402
from transformers.models.gemma4.configuration_gemma4 import Gemma4VisionConfig  # noqa: E402
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor  # noqa: E402
from transformers.models.gemma4.modeling_gemma4 import Gemma4MultimodalEmbedder, Gemma4VisionModel  # noqa: E402

OUT_TYPES = {
    "F32": (gguf.LlamaFileType.ALL_F32, gguf.GGMLQuantizationType.F32),
    "F16": (gguf.LlamaFileType.MOSTLY_F16, gguf.GGMLQuantizationType.F16),
    "BF16": (gguf.LlamaFileType.MOSTLY_BF16, gguf.GGMLQuantizationType.BF16),
    "Q8_0": (gguf.LlamaFileType.MOSTLY_Q8_0, gguf.GGMLQuantizationType.Q8_0),
}
CONVERSIONS = [("tiny-f32", "F32"), ("tiny-f32", "F16"), ("tiny-f32", "BF16"), ("tiny-f32", "Q8_0"),
               ("noclip-f32", "F32")]
CASES = ["speech", "odd-length"]
CLAMP_SUFFIXES = (".input_max", ".input_min", ".output_max", ".output_min")
MAP_SUFFIXES = (".weight", ".bias") + CLAMP_SUFFIXES
VISION_SEED = 4242


def gguf_file_name(model: str, out_type: str) -> str:
    """`mmproj-tiny-f32.gguf` keeps the HF fixture's name for F32; other types replace its `-f32` suffix."""
    stem = model.removesuffix("-f32")
    return f"mmproj-{stem}-{out_type.lower()}.gguf"


# --------------------------------------------------------------------------------------------
# The converter's steps
# --------------------------------------------------------------------------------------------


def is_audio_tensor(name: str) -> bool:
    return "audio_tower" in name or "embed_audio" in name


def modify_tensor(name: str, data: torch.Tensor, tensor_map) -> tuple[str, torch.Tensor]:
    """Gemma4VisionAudioModel.modify_tensors: one HF tensor -> (GGUF name, tensor as written)."""
    if data.dim() == 0:
        data = data.unsqueeze(0)  # clamp scalars -> {1}
    if is_audio_tensor(name):
        name = name.replace("model.audio_tower.", "conformer.").replace(".linear.", ".")
        if name.endswith("per_dim_key_scale") or name.endswith("per_dim_scale"):
            name += ".weight"
            data = torch.nn.functional.softplus(data)
        if "lconv1d.depthwise_conv1d" in name and name.endswith(".weight"):
            assert data.shape[1] == 1
            data = data.reshape(data.shape[0], data.shape[2])
    else:
        name = name.replace("model.vision_tower.encoder.", "vision_model.model.").replace(".linear.weight", ".weight")
        if name.endswith("layer_scalar") or name.endswith("position_embedding_table"):
            name += ".weight"
        if name.endswith("patch_embedder.input_proj.weight"):
            n_embd, ksize_sq_c = data.shape
            patch = int((ksize_sq_c // 3) ** 0.5)
            data = data.reshape(n_embd, patch, patch, 3).permute(0, 3, 1, 2).contiguous()
    new_name = tensor_map.get_name(name, try_suffixes=MAP_SUFFIXES)
    if new_name is None:
        raise ValueError(f"cannot map tensor {name!r}")
    return new_name, data


def forced_type(hf_name: str, new_name: str, ftype):
    """Gemma4VisionAudioModel.tensor_force_quant, then MmprojModel's. False = no override."""
    if is_audio_tensor(hf_name) and (".conv" in hf_name or "_conv" in hf_name and ".weight" in hf_name):
        return gguf.GGMLQuantizationType.F32
    if "position_embedding_table" in hf_name:
        return gguf.GGMLQuantizationType.F32
    if ".patch_embd.weight" in new_name or ".patch_merger.weight" in new_name:
        return (gguf.GGMLQuantizationType.F16 if ftype == gguf.LlamaFileType.MOSTLY_F16
                else gguf.GGMLQuantizationType.F32)
    return False


def stored_type(hf_name: str, new_name: str, n_dims: int, out_type: str):
    """ModelBase.prepare_tensors' choice of ggml type (before the quantization fallback)."""
    ftype, default = OUT_TYPES[out_type]
    qtype = forced_type(hf_name, new_name, ftype)
    if n_dims <= 1 or new_name.endswith("_norm.weight"):
        qtype = gguf.GGMLQuantizationType.F32
    if isinstance(qtype, bool):
        qtype = default
    return qtype


def quantize(data: np.ndarray, qtype):
    """gguf.quants.quantize, falling back to F16 as prepare_tensors does when the shape does not fit the blocks."""
    try:
        return gguf.quants.quantize(data, qtype), qtype
    except gguf.QuantError:
        return gguf.quants.quantize(data, gguf.GGMLQuantizationType.F16), gguf.GGMLQuantizationType.F16


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def tiny_vision(text_hidden: int) -> tuple[Gemma4VisionConfig, dict[str, torch.Tensor]]:
    """A tiny random vision tower + embed_vision under their real checkpoint names (placeholder weights)."""
    config = Gemma4VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=2, head_dim=8, patch_size=4, position_embedding_size=8)
    torch.manual_seed(VISION_SEED)
    tower = Gemma4VisionModel(config).float().eval()
    text = mf.Gemma4TextConfig(hidden_size=text_hidden)
    embedder = Gemma4MultimodalEmbedder(config, text).float().eval()
    state = {"model.vision_tower." + k: torch.randn_like(v) * 0.02 for k, v in tower.state_dict().items()}
    state.update({"model.embed_vision." + k: torch.randn_like(v) * 0.02 for k, v in embedder.state_dict().items()})
    return config, state


def write_gguf(model_dir: Path, out_type: str, path: Path) -> dict:
    """Converts one HF fixture model; returns what was written (for the manifest and the read-back)."""
    hparams = json.loads((model_dir / "config.json").read_text())
    audio, text = hparams["audio_config"], hparams["text_config"]
    n_embd_text = text["hidden_size"]
    has_vision = hparams.get("vision_config") is not None
    hf_state = mf.read_checkpoint(model_dir)
    state = {k: v for k, v in hf_state.items() if "language_model." not in k}  # MmprojModel.filter_tensors
    vision_config = None
    if has_vision:
        vision_config, vision_state = tiny_vision(n_embd_text)
        state.update(vision_state)
    ftype, _ = OUT_TYPES[out_type]
    # MmprojModel.__init__: two encoders -> block_count 128 for the name map. (The audio-only noclip model gets 128
    # too: with its one layer, a name map of num_hidden_layers blocks could not map SSCP layer1.)
    tensor_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, 128)

    writer = gguf.GGUFWriter(path, arch="clip")  # general.architecture = "clip"
    # ModelBase.prepare_metadata: type, then the model card (name), then set_gguf_parameters, then the
    # quantization version.
    writer.add_type(gguf.GGUFType.MMPROJ)
    writer.add_name(model_dir.name)
    writer.add_file_type(ftype)
    if has_vision:  # MmprojModel.set_gguf_parameters, vision part (the tiny placeholder tower)
        writer.add_clip_has_vision_encoder(True)
        writer.add_vision_projection_dim(n_embd_text)
        writer.add_vision_image_size(224)  # Gemma4VisionAudioModel.__init__ sets 224 ("unused")
        writer.add_vision_patch_size(vision_config.patch_size)
        writer.add_vision_embedding_length(vision_config.hidden_size)
        writer.add_vision_feed_forward_length(vision_config.intermediate_size)
        writer.add_vision_block_count(vision_config.num_hidden_layers)
        writer.add_vision_head_count(vision_config.num_attention_heads)
        writer.add_vision_image_mean([0.0, 0.0, 0.0])  # Gemma4ImageProcessor defaults
        writer.add_vision_image_std([1.0, 1.0, 1.0])
    # audio part; Gemma4VisionAudioModel.__init__ sets intermediate_size = 4 * hidden_size
    writer.add_clip_has_audio_encoder(True)
    writer.add_audio_projection_dim(n_embd_text)
    writer.add_audio_embedding_length(audio["hidden_size"])
    writer.add_audio_feed_forward_length(audio["hidden_size"] * 4)
    writer.add_audio_block_count(audio["num_hidden_layers"])
    writer.add_audio_head_count(audio["num_attention_heads"])
    if has_vision:  # Gemma4VisionAudioModel.set_gguf_parameters
        writer.add_clip_vision_projector_type(gguf.VisionProjectorType.GEMMA4V)
        writer.add_vision_attention_layernorm_eps(vision_config.to_dict().get("layer_norm_eps", 1e-6))
    writer.add_clip_audio_projector_type(gguf.VisionProjectorType.GEMMA4A)
    writer.add_audio_num_mel_bins(audio.get("input_feat_size", 128))
    writer.add_audio_attention_layernorm_eps(audio.get("layer_norm_eps", 1e-6))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    written = []
    for hf_name, tensor in state.items():
        new_name, data_torch = modify_tensor(hf_name, tensor.float(), tensor_map)
        data = data_torch.numpy()
        qtype = stored_type(hf_name, new_name, data.ndim, out_type)
        data, qtype = quantize(data, qtype)
        writer.add_tensor(new_name, data, raw_dtype=qtype)
        written.append({"hf": hf_name, "gguf": new_name, "type": qtype.name,
                        "ne": list(reversed(data_torch.shape))})
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"tensors": written, "hf_state": hf_state, "config_path": model_dir / "config.json"}


# --------------------------------------------------------------------------------------------
# Read-back: the GGUF's weights under HF names, as transformers needs them
# --------------------------------------------------------------------------------------------


def read_back(path: Path, written: list[dict], hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every audio tensor of the GGUF, dequantized by gguf-py and put back into HF's name and shape."""
    reader = gguf.GGUFReader(path)
    by_name = {t.name: t for t in reader.tensors}
    state = {}
    for entry in written:
        hf_name = entry["hf"]
        if not is_audio_tensor(hf_name):
            continue
        t = by_name[entry["gguf"]]
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        x = torch.from_numpy(values.copy())
        if hf_name.endswith("per_dim_scale"):
            y = x.double()
            x = torch.log(torch.expm1(y)).float()  # softplus^-1, in float64
        state[hf_name] = x.reshape(hf_state[hf_name].shape)
    return state


@torch.no_grad()
def reference_embeddings(config_path: Path, state: dict[str, torch.Tensor], wav16k: np.ndarray, fe):
    config = Gemma4Config.from_json_file(config_path)
    tower, embedder = mf.build_modules(config)
    tower.load_state_dict({k[len(mf.AUDIO_PREFIX):]: v for k, v in state.items() if k.startswith(mf.AUDIO_PREFIX)},
                          strict=True)
    embedder.load_state_dict({k[len(mf.EMBED_PREFIX):]: v for k, v in state.items()
                              if k.startswith(mf.EMBED_PREFIX)}, strict=True)
    features, mask, _ = mf.features_for(fe, wav16k)
    return mf.run_reference(tower, embedder, features, mask)[1]


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=Path("Tests/Fixtures/models"))
    parser.add_argument("--cases", type=Path, default=Path("Tests/Fixtures/cases"))
    parser.add_argument("--out", type=Path, default=Path("Tests/Fixtures/gguf"))
    args = parser.parse_args(argv)
    mf.setup_torch()
    fe = Gemma4AudioFeatureExtractor()
    args.out.mkdir(parents=True, exist_ok=True)
    wavs = {}
    for case in CASES:
        wav, rate, _ = mf.read_wav(args.cases / case / "input.wav")
        wavs[case] = mf.to_model_input(wav, rate)

    manifest = {"generator": "tools/reference/make_gguf_fixtures.py",
                "command": "~/.cache/earshot-ref/bin/python tools/reference/make_gguf_fixtures.py",
                "gguf_py": gguf.__version__ if hasattr(gguf, "__version__") else "0.19.0",
                "transformers": mf.transformers.__version__, "files": {}}
    for model, out_type in CONVERSIONS:
        name = gguf_file_name(model, out_type)
        path = args.out / name
        result = write_gguf(args.models / model, out_type, path)
        hf_state, written = result["hf_state"], result["tensors"]
        state = read_back(path, written, hf_state)
        assert state.keys() == hf_state.keys(), set(state) ^ set(hf_state)

        weight_error = {}
        for entry in written:
            if is_audio_tensor(entry["hf"]):
                err = float((state[entry["hf"]].double() - hf_state[entry["hf"]].double()).abs().max())
                weight_error[entry["type"]] = max(weight_error.get(entry["type"], 0.0), err)
        info = {
            "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "from": model, "outtype": out_type,
            "audio_types": dict(Counter(e["type"] for e in written if is_audio_tensor(e["hf"]))),
            "other_types": dict(Counter(e["type"] for e in written if not is_audio_tensor(e["hf"]))),
            "max_abs_weight_error_vs_hf_by_type": weight_error,
            "tensors": {e["gguf"]: {"hf": e["hf"], "type": e["type"], "ne": e["ne"]} for e in written},
            "cases": {},
        }
        for case, wav16k in wavs.items():
            emb = reference_embeddings(result["config_path"], state, wav16k, fe)
            mf.save_npy(args.out / f"{path.stem}.{case}.embeddings.npy", emb)
            f32 = np.load(args.cases / case / f"{model}.embeddings.npy")
            info["cases"][case] = {
                "tokens": int(emb.shape[0]),
                "max_abs_vs_hf_f32": float(np.abs(emb - f32).max()),
                "max_abs_hf_f32": float(np.abs(f32).max()),
            }
        manifest["files"][name] = info
        print(f"{name}: {info['bytes']} bytes, audio {info['audio_types']}, other {info['other_types']}, "
              f"weights {weight_error}, embeddings vs HF f32 "
              + ", ".join(f"{c} {v['max_abs_vs_hf_f32']:.3g}" for c, v in info["cases"].items()))
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
