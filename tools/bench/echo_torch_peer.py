"""Times the seed's own PyTorch Echo AudioEncoder on CPU, the peer of `earshot bench --model DIR|random:echo` on Echo.

    ~/.cache/earshot-ref/bin/python tools/bench/echo_torch_peer.py [MODEL_DIR] [--threads 2] [--runs 3]

MODEL_DIR is an Echo model directory (dimensions.json + model.safetensors, e.g. what
`tools/reference/make_echo_fixtures.py --full DIR` writes to DIR/base); without it, the seed's Dimensions with the
seed's default initialisation. Float32, eval mode, `torch.no_grad()`. For each input kind (mel, waveform, fused)
it prints the best of --runs encoder passes over one window (ctx frames; ctx·160 samples), after one warm-up, in wall
and CPU seconds, and the WhisperFeatureExtractor time for that window (`earshot bench`'s mel and fused times include
its own frontend).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import WhisperFeatureExtractor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
import echo_seed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.model:
        with open(os.path.join(args.model, "dimensions.json")) as f:
            param = echo_seed.Dimensions(**json.load(f))
    else:
        param = echo_seed.Dimensions(**{f: 0 for f in ["vocab", "text_ctx", "text_dims", "text_head", "decoder_idx",
                                                        "pad_token_id", "eos_token_id", "decoder_start_token_id"]},
                                     mels=128, audio_ctx=1500, audio_dims=512, audio_head=4, encoder_idx=4,
                                     act="gelu")
    encoder = echo_seed.AudioEncoder(mels=param.mels, ctx=param.audio_ctx, dims=param.audio_dims,
                                     head=param.audio_head, layer=param.encoder_idx, act=param.act).eval()
    if args.model:
        state = load_file(os.path.join(args.model, "model.safetensors"))
        if any(k.startswith("encoder.") for k in state):
            state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
        encoder.load_state_dict(state, strict=True)

    samples = param.audio_ctx * 160
    t = np.arange(samples) / 16_000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.7 * t)).astype(np.float32)
    extractor = WhisperFeatureExtractor(feature_size=param.mels, sampling_rate=16_000, hop_length=160,
                                        chunk_length=15)
    start = time.perf_counter()
    mel = extractor(audio, sampling_rate=16_000, max_length=samples, padding="max_length", truncation=True,
                    return_tensors="pt")["input_features"]
    frontend = time.perf_counter() - start
    wave = torch.from_numpy(audio)[None, None]
    print(f"torch {torch.__version__}, {args.threads} threads, float32; window {samples} samples "
          f"({samples / 16_000:.1f} s); WhisperFeatureExtractor {frontend:.3f} s")
    for kind, (x, w) in {"mel": (mel, None), "waveform": (None, wave), "fused": (mel, wave)}.items():
        times, cpu = [], []
        with torch.no_grad():
            encoder(x, w)
            for _ in range(args.runs):
                start, start_cpu = time.perf_counter(), time.process_time()
                encoder(x, w)
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
        # CPU seconds (all threads) beside the wall time: on a shared machine they vary far less.
        print(f"{kind:9s} best {min(times):.3f} s per window (RTF {min(times) / (samples / 16_000):.4f}), "
              f"{min(cpu):.3f} CPU s")


if __name__ == "__main__":
    main()
