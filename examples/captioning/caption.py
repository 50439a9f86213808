#!/usr/bin/env python3
"""Live captions from earshotd embeddings and a Gemma 4 language model (transformers).

earshotd computes Gemma 4's audio soft tokens (embed_audio outputs, width D) as the sound arrives. This script puts
them where Gemma 4 expects its audio soft tokens: the `audio_token_id` slots between `boa` and `eoa` in the prompt
(spec §3.5). Nothing else about the model changes: transformers' own merge (masked_scatter into the slots, pad ids
for the per-layer inputs) runs as usual; only the audio tower is skipped, because the daemon already ran it.

    # the daemon must run the SAME checkpoint's audio tower:
    earshotd --model /path/to/gemma-4-E2B-it --source pulse: --socket /tmp/earshot.sock &
    python3 caption.py --model /path/to/gemma-4-E2B-it --socket /tmp/earshot.sock            # live, 5 s windows
    python3 caption.py --model /path/to/gemma-4-E2B-it --socket /tmp/earshot.sock --wav a.wav # one file
    python3 caption.py --model /path/to/gemma-4-E2B-it --npy embeddings.npy                  # from earshot encode

Needs: torch, transformers >= 5.5 (Gemma 4), numpy, and the Gemma 4 weights (accept the licence on the hub first).
"""

import argparse
import os
import sys
import time

import numpy as np

try:
    import earshot
except ImportError:   # not installed: the client package's copy in this checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
    import earshot

BOA, AUDIO, EOA = 256000, 258881, 258883   # Gemma4Config: boa_token_id, audio_token_id, eoa_token_index


# -- the part that matters: embeddings into the audio slots ----------------------------------------------------------

def splice_audio_slots(input_ids, n, boa=BOA, audio=AUDIO, eoa=EOA):
    """Rewrites the prompt so that exactly `n` audio slots sit between boa and eoa (the processor sizes the run from
    the waveform it was given; the daemon's token count is the truth). input_ids: list of ints."""
    start = input_ids.index(boa)
    end = input_ids.index(eoa, start)
    return input_ids[:start + 1] + [audio] * n + input_ids[end:]


def install_embeddings(model, embeddings):
    """Makes `model.model.get_audio_features` return `embeddings` (n, D) instead of running the audio tower, so that
    Gemma4Model.forward scatters them into the audio slots exactly as it would its own audio tower's output."""
    import torch

    inner = model.model
    values = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))[None]   # (1, n, D)

    class Features:  # what get_audio_features returns, as far as the merge reads it
        pooler_output = values
        attention_mask = torch.ones(values.shape[:2], dtype=torch.bool)

    def get_audio_features(input_features, input_features_mask, **kwargs):
        return Features()

    inner.get_audio_features = get_audio_features


def caption(model, processor, embeddings, prompt, max_new_tokens=64):
    """Generates text for `embeddings` (n, D): the chat template with one audio part, slots resized to n."""
    import torch

    n = len(embeddings)
    messages = [{"role": "user", "content": [
        {"type": "audio", "audio": np.zeros(640 * n + 641, dtype=np.float32)},   # sizes the run; never encoded
        {"type": "text", "text": prompt}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    ids = splice_audio_slots(inputs["input_ids"][0].tolist(), n)
    inputs["input_ids"] = torch.tensor([ids])
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    inputs = {k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in inputs.items()}
    install_embeddings(model, embeddings)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.decode(out[0, len(ids):], skip_special_tokens=True).strip()


def load(model_dir):
    import torch
    from transformers import AutoProcessor, Gemma4ForConditionalGeneration

    processor = AutoProcessor.from_pretrained(model_dir)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = Gemma4ForConditionalGeneration.from_pretrained(model_dir, dtype=dtype)
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model.eval(), processor


# -- where the embeddings come from -----------------------------------------------------------------------------------

def from_wav(client, path):
    """Pushes a WAV through the daemon; returns its embeddings (n, D)."""
    return client.push(path).embeddings


def live_windows(client, stream, seconds):
    """Yields (first audio time, embeddings) for consecutive windows of `seconds` of a live stream."""
    window = int(round(seconds * 25))
    rows, first = [], None
    for m in client.subscribe(stream, start="now"):
        if isinstance(m, earshot.Token):
            if first is None:
                first = m.first_sample / 16000
            rows.append(m.values)
            if len(rows) == window:
                yield first, np.stack(rows)
                rows, first = [], None
        elif m.kind in ("lagged", "deviceLost", "discontinuity", "overrun"):
            print(f"[{m.kind}: {m.message or m.count}]", file=sys.stderr)
        elif m.kind == "ended" and rows:
            yield first, np.stack(rows)


def main():
    parser = argparse.ArgumentParser(description="Captions from earshotd embeddings with a Gemma 4 LM.")
    parser.add_argument("--model", required=True, help="the Gemma 4 checkpoint directory (the daemon's too)")
    parser.add_argument("--socket", help="earshotd's socket (default: as earshotd)")
    parser.add_argument("--stream", default="mic")
    parser.add_argument("--seconds", type=float, default=5.0, help="live: seconds of audio per caption")
    parser.add_argument("--wav", help="caption this file (pushed through the daemon) instead of a live stream")
    parser.add_argument("--npy", help="caption embeddings saved by `earshot encode` / `earshot listen --output`")
    parser.add_argument("--prompt", default="Transcribe this audio.")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    model, processor = load(args.model)
    d = model.config.get_text_config().hidden_size
    if args.npy:
        embeddings = np.load(args.npy)
        print(caption(model, processor, embeddings, args.prompt, args.max_new_tokens))
        return

    with earshot.connect(args.socket, client_name="captioning example") as client:
        if client.server["D"] != d:
            raise SystemExit(f"the daemon's embeddings are {client.server['D']} wide but this language model takes "
                             f"{d}: run earshotd with the same checkpoint")
        if args.wav:
            print(caption(model, processor, from_wav(client, args.wav), args.prompt, args.max_new_tokens))
            return
        for start, embeddings in live_windows(client, args.stream, args.seconds):
            began = time.monotonic()
            text = caption(model, processor, embeddings, args.prompt, args.max_new_tokens)
            print(f"[{start:8.2f} s] {text}   ({time.monotonic() - began:.1f} s to generate)", flush=True)


if __name__ == "__main__":
    main()
