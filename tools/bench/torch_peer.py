"""Times the fastest peer, Hugging Face transformers on CPU, on the same model and audio length as `earshot bench`.

    ~/.cache/earshot-ref/bin/python tools/bench/torch_peer.py MODEL_DIR [--seconds 10] [--threads 2] [--runs 3]
        [--dtype float32|bfloat16]

MODEL_DIR is a Hugging Face Gemma 4 layout (config.json + safetensors), e.g. the E2B-size random model that
`tools/reference/make_fixtures.py --e2b-check DIR` writes to DIR/model. Prints the feature extraction and the audio
tower + embedder forward time (best of --runs, after one warm-up) and the real-time factor. `--dtype bfloat16` runs the
modules as a user who wants speed would, `model.to(torch.bfloat16)`, with the features cast to bf16.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from safetensors.torch import load_file
from transformers.models.gemma4.configuration_gemma4 import Gemma4Config
from transformers.models.gemma4.feature_extraction_gemma4 import Gemma4AudioFeatureExtractor
from transformers.models.gemma4.modeling_gemma4 import Gemma4AudioModel, Gemma4MultimodalEmbedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with open(os.path.join(args.model, "config.json")) as f:
        config = Gemma4Config(**json.load(f))
    tower = Gemma4AudioModel(config.audio_config).eval()
    embedder = Gemma4MultimodalEmbedder(config.audio_config, config.text_config).eval()
    weights = {}
    for name in sorted(os.listdir(args.model)):
        if name.endswith(".safetensors"):
            weights.update(load_file(os.path.join(args.model, name)))
    tower.load_state_dict({k[len("model.audio_tower."):]: v.float() for k, v in weights.items()
                           if k.startswith("model.audio_tower.")}, strict=False)
    embedder.load_state_dict({k[len("model.embed_audio."):]: v.float() for k, v in weights.items()
                              if k.startswith("model.embed_audio.")}, strict=False)

    dtype = getattr(torch, args.dtype)
    tower.to(dtype)
    embedder.to(dtype)

    n = int(args.seconds * 16000)
    t = np.arange(n) / 16000
    audio = (0.15 * np.sin(2 * np.pi * 150 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3.1 * t))).astype(np.float32)
    extractor = Gemma4AudioFeatureExtractor()

    def run() -> tuple[float, float]:
        start = time.perf_counter()
        features = extractor([audio], return_tensors="pt")
        middle = time.perf_counter()
        with torch.inference_mode():
            out = tower(features["input_features"].to(dtype), features["input_features_mask"])
            embedder(out.last_hidden_state)
        return middle - start, time.perf_counter() - middle

    run()  # warm-up
    best = min((run() for _ in range(args.runs)), key=lambda r: r[0] + r[1])
    total = best[0] + best[1]
    print(f"transformers {__import__('transformers').__version__} + torch {torch.__version__}, "
          f"{args.dtype}, {args.threads} threads: {args.seconds:.1f} s of audio in {total:.3f} s "
          f"(features {best[0]:.3f} s, tower+embedder {best[1]:.3f} s) — real-time factor {total / args.seconds:.4f}")


if __name__ == "__main__":
    main()
