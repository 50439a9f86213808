#!/usr/bin/env python3
"""Extract Silero VAD v6's 16 kHz weights from the `silero-vad` pip package into a small safetensors file.

The source is the package's ONNX graph `data/silero_vad_16k_op15.onnx` (the 16 kHz model alone, its weights as
named initializers). Every tensor is checked bit for bit against the 16 kHz branch (`_model.*`) of
`data/silero_vad.jit`, the model `silero_vad.load_silero_vad()` returns, so the file holds exactly the weights the
reference fixtures were made with. The package's `data/silero_vad_16k.safetensors` is NOT used: it is an older
weight set whose probabilities differ from the JIT model's by up to 0.71.

    ~/.cache/earshot-ref/bin/python tools/vad/convert_silero.py --out models/silero-vad/silero_vad_16k_v6.safetensors

The output is deterministic (same package, same bytes). See tools/vad/README.md.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import struct
from pathlib import Path

import numpy as np
import onnx
import silero_vad
from onnx import numpy_helper

PACKAGE_VERSION = "6.2.3"
ONNX_NAME = "silero_vad_16k_op15.onnx"

# Earshot's tensor name -> (ONNX initializer name, shape). The JIT's name is "_" + the ONNX name.
TENSORS: dict[str, tuple[str, tuple[int, ...]]] = {
    "stft.forward_basis": ("model.stft.forward_basis_buffer", (258, 1, 256)),
    "encoder.0.weight": ("model.encoder.0.reparam_conv.weight", (128, 129, 3)),
    "encoder.0.bias": ("model.encoder.0.reparam_conv.bias", (128,)),
    "encoder.1.weight": ("model.encoder.1.reparam_conv.weight", (64, 128, 3)),
    "encoder.1.bias": ("model.encoder.1.reparam_conv.bias", (64,)),
    "encoder.2.weight": ("model.encoder.2.reparam_conv.weight", (64, 64, 3)),
    "encoder.2.bias": ("model.encoder.2.reparam_conv.bias", (64,)),
    "encoder.3.weight": ("model.encoder.3.reparam_conv.weight", (128, 64, 3)),
    "encoder.3.bias": ("model.encoder.3.reparam_conv.bias", (128,)),
    "lstm.weight_ih": ("model.decoder.rnn.weight_ih", (512, 128)),
    "lstm.weight_hh": ("model.decoder.rnn.weight_hh", (512, 128)),
    "lstm.bias_ih": ("model.decoder.rnn.bias_ih", (512,)),
    "lstm.bias_hh": ("model.decoder.rnn.bias_hh", (512,)),
    "decoder.weight": ("model.decoder.decoder.2.weight", (1, 128, 1)),
    "decoder.bias": ("model.decoder.decoder.2.bias", (1,)),
}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """A safetensors file with sorted keys and a header padded to 8 bytes, so the same tensors give the same
    bytes (the `safetensors` package orders `__metadata__` by hash)."""
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in sorted(tensors):
            f.write(tensors[name].astype("<f4").tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    args = parser.parse_args()

    version = importlib.metadata.version("silero-vad")
    if version != PACKAGE_VERSION:
        raise SystemExit(f"silero-vad {version} is installed; this converter is for {PACKAGE_VERSION}")
    data = Path(os.path.dirname(silero_vad.__file__)) / "data"
    onnx_path = data / ONNX_NAME
    graph = onnx.load(str(onnx_path)).graph
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    if set(initializers) != {onnx_name for onnx_name, _ in TENSORS.values()}:
        raise SystemExit(f"{onnx_path}: unexpected initializers {sorted(initializers)}")

    jit = silero_vad.load_silero_vad(onnx=False).state_dict()
    tensors: dict[str, np.ndarray] = {}
    for name, (onnx_name, shape) in TENSORS.items():
        value = initializers[onnx_name]
        if value.dtype != np.float32 or value.shape != shape:
            raise SystemExit(f"{onnx_name}: {value.dtype} {value.shape}, expected float32 {shape}")
        if not np.array_equal(value, jit["_" + onnx_name].numpy()):
            raise SystemExit(f"{onnx_name}: differs from the JIT model's 16 kHz weights")
        tensors[name] = np.ascontiguousarray(value)

    metadata = {
        "format": "earshot-silero-vad",
        "model": "Silero VAD v6, 16 kHz",
        "source": f"silero-vad {version} (PyPI), data/{ONNX_NAME}",
        "source_sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "license": "MIT, Copyright (c) 2020-present Silero Team (see LICENSE beside this file)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(args.out, tensors, metadata)
    count = sum(t.size for t in tensors.values())
    print(f"{args.out}: {len(tensors)} tensors, {count} float32 parameters, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
