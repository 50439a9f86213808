#!/usr/bin/env python3
"""Does a full transformers Gemma 4 keep its next-token argmax when fed Earshot's audio embeddings?

    ~/.cache/earshot-ref/bin/python tools/reference/argmax_check.py \
        --model Tests/Fixtures/hf-saved/model --input Tests/Fixtures/cases/speech/input.wav
    ~/.cache/earshot-ref/bin/python tools/reference/argmax_check.py --make-e2b /tmp/argmax-e2b
    ~/.cache/earshot-ref/bin/python tools/reference/argmax_check.py \
        --model /tmp/argmax-e2b/model --input /tmp/argmax-e2b/speech10s.wav

(Run it through `inwt` from a worktree, or anywhere the default `.build/debug/earshot` is a built binary; see
tools/reference/README.md.)

The model directory is a whole `Gemma4ForConditionalGeneration` (text + audio, as `save_pretrained` writes it),
loaded in float32. The prompt is laid out as Gemma 4's processor lays out an audio turn: the audio placeholder
expanded to `boa, audio_token × n, eoa` inside a user turn, followed by more text and the model-turn header. These
checkpoints carry no tokenizer and random text weights, so the text tokens are fixed in-vocabulary ids drawn from a
seeded generator; where `boa`/`eoa` lie outside a tiny model's vocabulary they are replaced by in-vocabulary
stand-ins (printed).

One forward pass runs transformers' own audio path (`Gemma4Model.forward` calls `get_audio_features`, then
scatters the valid soft tokens into the audio placeholders): the reference logits. The other passes are the same
forward call with `get_audio_features` answering with precomputed embeddings instead (the one seam between the
audio path and the merge, so the text side, the per-layer inputs and the placeholder scatter stay transformers'
own):
  * transformers' own f32 embeddings again: a self-check, the logits must come back bit for bit;
  * `earshot encode --precision P` for each precision asked for (f32, fast, bf16; one the CPU lacks is reported
    as skipped with Earshot's reason);
  * torch bf16: the audio tower and embedder cast with `.to(torch.bfloat16)`, run on bf16 features, upcast;
  * the reference embeddings in reverse token order: a baseline showing how far the logits move when the audio
    content changes (if this moved nothing, keeping the argmax would prove nothing).
Compared at every position from the first audio soft token to the end (their logits all depend on the audio):
argmax agreement, top-5 overlap, max |Δlogit|, and for each changed argmax the reference's margin between the
two tokens and how much that gap moved.

`--make-e2b DIR` writes DIR/model, a full model with an E2B-size audio tower (random weights filled and clamps
calibrated as make_fixtures.py's `--e2b-check` does), a 2-layer text model at E2B's width (1536) with the real
262,144-token vocabulary and transformers' default random init, and a tiny vision tower, saved in bf16; and
DIR/speech10s.wav, the same 10 s espeak-ng clip as `--e2b-check`. Random weights: the logits mean nothing, only
their agreement does.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (WAV reading, resampling, features, seeded audio weights, clamps)

from transformers import (  # noqa: E402
    Gemma4AudioFeatureExtractor,
    Gemma4Config,
    Gemma4ForConditionalGeneration,
    Gemma4TextConfig,
    Gemma4VisionConfig,
)
from transformers.models.gemma4.modeling_gemma4 import Gemma4AudioModelOutput  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PROMPT_SEED = 2104
FIRST_PLAIN_ID = 3  # 0 pad, 1 eos, 2 bos
USER_HEADER_TOKENS = 3  # "<|turn>user\n"
AFTER_AUDIO_TOKENS = 12  # the instruction, "<turn|>\n", "<|turn>model\n"
TOP_K = 5
MAX_FLIPS_PRINTED = 5


# --------------------------------------------------------------------------------------------
# Prompt and forward passes
# --------------------------------------------------------------------------------------------


def prompt_ids(config: Gemma4Config, n_audio: int) -> tuple[torch.Tensor, int, dict[str, int]]:
    """bos, user header, boa, audio × n, eoa, instruction + model header. -> (ids [1,S], first audio position,
    stand-ins used for special tokens outside the vocabulary)."""
    text = config.get_text_config()
    vocab = text.vocab_size
    specials = {config.boi_token_id, config.eoi_token_id, config.boa_token_id, config.eoa_token_index,
                config.image_token_id, config.video_token_id, config.audio_token_id}
    plain = np.array([i for i in range(FIRST_PLAIN_ID, min(vocab, 255_999)) if i not in specials])
    rng = np.random.Generator(np.random.PCG64(PROMPT_SEED))
    stand_ins = {}

    def special(name: str, token: int, fallback: int) -> int:
        if token < vocab:
            return token
        stand_ins[name] = fallback
        return fallback

    boa = special("boa", config.boa_token_id, int(plain[-2]))
    eoa = special("eoa", config.eoa_token_index, int(plain[-1]))
    ids = [text.bos_token_id, *rng.choice(plain[:-2], USER_HEADER_TOKENS).tolist(), boa]
    first_audio = len(ids)
    ids += [config.audio_token_id] * n_audio
    ids += [eoa, *rng.choice(plain[:-2], AFTER_AUDIO_TOKENS).tolist()]
    return torch.tensor([ids]), first_audio, stand_ins


@contextmanager
def audio_features_from(model: Gemma4ForConditionalGeneration, embeddings: np.ndarray):
    """Within the block, `model.model.get_audio_features` returns `embeddings` [T, D] as its valid soft tokens."""
    soft = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))[None]

    def precomputed(input_features, input_features_mask, **kwargs):
        return Gemma4AudioModelOutput(pooler_output=soft,
                                      attention_mask=torch.ones(soft.shape[:2], dtype=torch.bool))

    model.model.get_audio_features = precomputed
    try:
        yield
    finally:
        del model.model.get_audio_features  # back to the class's method


@torch.no_grad()
def logits_for(model, ids, features, mask, first: int) -> torch.Tensor:
    """Next-token logits [S - first, V] from position `first` on."""
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), input_features=features,
                input_features_mask=mask, use_cache=False)
    return out.logits[0, first:].float()


@torch.no_grad()
def transformers_embeddings(model, features, mask, dtype: torch.dtype) -> np.ndarray:
    """`get_audio_features` with the audio tower and embedder (and features) in `dtype`; valid tokens, float32."""
    inner = model.model
    if dtype == torch.float32:
        out = inner.get_audio_features(features, mask)
    else:
        tower, embedder = inner.audio_tower, inner.embed_audio
        inner.audio_tower, inner.embed_audio = copy.deepcopy(tower).to(dtype), copy.deepcopy(embedder).to(dtype)
        try:
            out = inner.get_audio_features(features.to(dtype), mask)
        finally:
            inner.audio_tower, inner.embed_audio = tower, embedder
    return out.pooler_output[0][out.attention_mask[0]].float().numpy()


def earshot_embeddings(earshot: Path, model_dir: Path, wav: Path, precision: str, threads: int,
                       tmp: Path) -> np.ndarray | str:
    """`earshot encode` LM-space embeddings [T, D], or Earshot's reason when this CPU cannot run the precision.
    Any other failure ends the check."""
    if not earshot.is_file():
        sys.exit(f"no Earshot binary at {earshot}: build it (swift build) or pass --earshot PATH")
    out = tmp / f"earshot-{precision}.npy"
    command = [str(earshot), "encode", "--model", str(model_dir), "--input", str(wav), "--output", str(out),
               "--stage", "embeddings", "--precision", precision, "--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        message = result.stderr.strip() or f"exit status {result.returncode}"
        if f"precision {precision} needs a CPU" in message:  # Earshot's refusal on a CPU without the ISA
            return message.splitlines()[-1]
        sys.exit(f"{' '.join(command)} failed:\n{message}")
    return np.load(out)


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def embedding_stats(ref: np.ndarray, emb: np.ndarray) -> dict:
    ref, emb = ref.astype(np.float64), emb.astype(np.float64)
    cos = (ref * emb).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(emb, axis=1))
    return {"max_abs": float(np.abs(emb - ref).max()), "min_cosine": float(cos.min())}


def logit_stats(ref: torch.Tensor, got: torch.Tensor, n_audio: int) -> dict:
    """Argmax, top-5 and |Δlogit| at each compared position; rows 0..n_audio-1 are the audio soft tokens."""
    ref_top = ref.topk(TOP_K, dim=-1).indices
    got_top = got.topk(TOP_K, dim=-1).indices
    ref_arg, got_arg = ref_top[:, 0], got_top[:, 0]
    same = ref_arg == got_arg
    overlap = torch.tensor([len(set(a.tolist()) & set(b.tolist())) / TOP_K for a, b in zip(ref_top, got_top)])
    flips = []
    for row in torch.nonzero(~same).flatten().tolist():
        a, b = int(ref_arg[row]), int(got_arg[row])
        ref_gap = float(ref[row, a] - ref[row, b])
        flips.append({"row": row, "in_audio": row < n_audio, "ref_token": a, "new_token": b,
                      "ref_margin": ref_gap, "new_margin": float(got[row, a] - got[row, b]),
                      "max_abs_dlogit_here": float((got[row] - ref[row]).abs().max())})
    top2 = ref.topk(2, dim=-1).values
    max_dlogit = float((got - ref).abs().max())
    return {
        "positions": int(len(same)),
        # Positions whose reference top-1 lead is under 2 × this run's max |Δlogit|: the only ones it could flip.
        "within_reach": int((top2[:, 0] - top2[:, 1] < 2 * max_dlogit).sum()),
        "argmax_same": int(same.sum()),
        "argmax_same_audio": int(same[:n_audio].sum()),
        "argmax_same_after": int(same[n_audio:].sum()),
        "last_same": bool(same[-1]),
        "top5_overlap_mean": float(overlap.mean()),
        "top5_overlap_min": float(overlap.min()),
        "max_abs_dlogit": max_dlogit,
        "max_abs_dlogit_after": float((got[n_audio:] - ref[n_audio:]).abs().max()),
        "flips": flips,
    }


def margins(ref: torch.Tensor, n_audio: int) -> dict:
    """The reference's top-1 − top-2 gap: how close a change of argmax was at all."""
    top2 = ref.topk(2, dim=-1).values
    gap = top2[:, 0] - top2[:, 1]
    return {"min": float(gap.min()), "median": float(gap.median()), "min_after": float(gap[n_audio:].min()),
            "max_abs_logit": float(ref.abs().max())}


# --------------------------------------------------------------------------------------------
# Drivers
# --------------------------------------------------------------------------------------------


def run_check(args) -> dict:
    torch.set_num_threads(args.threads)
    fe = Gemma4AudioFeatureExtractor()
    model = Gemma4ForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32).eval()
    config = model.config
    wav, rate, _ = mf.read_wav(args.input)
    wav16k = mf.to_model_input(wav, rate)
    features, mask, _ = mf.features_for(fe, wav16k)

    emb_ref = transformers_embeddings(model, features, mask, torch.float32)
    n_audio = emb_ref.shape[0]
    assert n_audio == mf.token_count(fe, wav16k), "soft-token count differs from the processor's"
    ids, first, stand_ins = prompt_ids(config, n_audio)
    ref = logits_for(model, ids, features, mask, first)

    report = {"model": str(args.model), "input": str(args.input), "tokens": n_audio, "width": emb_ref.shape[1],
              "vocab": config.get_text_config().vocab_size, "sequence": ids.shape[1], "first_audio": first,
              "compared_positions": ref.shape[0], "special_stand_ins": stand_ins, "threads": args.threads,
              "reference_margins": margins(ref, n_audio), "runs": {}}

    candidates: dict[str, np.ndarray | str] = {"transformers f32 (self-check)": emb_ref}
    with tempfile.TemporaryDirectory() as tmpname:
        for precision in args.precisions:
            candidates[f"earshot {precision}"] = earshot_embeddings(args.earshot, args.model, args.input,
                                                                    precision, args.threads, Path(tmpname))
    candidates["torch bf16 audio path"] = transformers_embeddings(model, features, mask, torch.bfloat16)
    candidates["reversed audio (baseline)"] = emb_ref[::-1].copy()

    for name, emb in candidates.items():
        if isinstance(emb, str):
            report["runs"][name] = {"skipped": emb}
            continue
        assert emb.shape == emb_ref.shape, f"{name}: {emb.shape} vs transformers' {emb_ref.shape}"
        with audio_features_from(model, emb):
            got = logits_for(model, ids, features, mask, first)
        report["runs"][name] = {"embeddings": embedding_stats(emb_ref, emb), **logit_stats(ref, got, n_audio)}
    self_check = report["runs"]["transformers f32 (self-check)"]
    assert self_check["max_abs_dlogit"] == 0.0, "injecting transformers' own embeddings changed the logits"
    return report


def print_report(report: dict) -> None:
    m = report["reference_margins"]
    print(f"{report['model']}  {report['input']}")
    print(f"  {report['tokens']} audio tokens × {report['width']}, vocab {report['vocab']}, sequence "
          f"{report['sequence']}, compared positions {report['compared_positions']} "
          f"({report['tokens']} audio + {report['compared_positions'] - report['tokens']} after)")
    if report["special_stand_ins"]:
        print(f"  stand-in ids (outside the vocabulary): {report['special_stand_ins']}")
    print(f"  reference top1-top2 margin: min {m['min']:.3g} (after the audio {m['min_after']:.3g}), "
          f"median {m['median']:.3g}; max|logit| "
          f"{m['max_abs_logit']:.3g}")
    print(f"  {'audio embeddings':30} {'min cos':>11} {'max|Δemb|':>10} {'argmax same':>14} {'audio':>9} "
          f"{'after':>7} {'last':>5} {'top5 mean/min':>14} {'max|Δlogit|':>11} {'after':>9} {'reach':>6}")
    for name, run in report["runs"].items():
        if "skipped" in run:
            print(f"  {name:30} skipped: {run['skipped']}")
            continue
        e = run["embeddings"]
        n_after = run["positions"] - report["tokens"]
        print(f"  {name:30} {e['min_cosine']:11.8f} {e['max_abs']:10.3g} "
              f"{run['argmax_same']:>6}/{run['positions']:<7} {run['argmax_same_audio']:>4}/{report['tokens']:<4} "
              f"{run['argmax_same_after']:>3}/{n_after:<3} {'yes' if run['last_same'] else 'NO':>5} "
              f"{run['top5_overlap_mean']:7.4f}/{run['top5_overlap_min']:.1f} {run['max_abs_dlogit']:11.3g} "
              f"{run['max_abs_dlogit_after']:9.3g} {run['within_reach']:>6}")
        if not name.startswith("reversed"):
            for f in run["flips"][:MAX_FLIPS_PRINTED]:
                where = "audio" if f["in_audio"] else "after"
                print(f"      argmax changed at row {f['row']} ({where}): {f['ref_token']} -> {f['new_token']}, "
                      f"reference margin {f['ref_margin']:.3g}, now {f['new_margin']:.3g}, "
                      f"max|Δlogit| there {f['max_abs_dlogit_here']:.3g}")
            if len(run["flips"]) > MAX_FLIPS_PRINTED:
                print(f"      ... and {len(run['flips']) - MAX_FLIPS_PRINTED} more (all in the --json file)")


def text_config_e2b_width() -> Gemma4TextConfig:
    """E2B's width (1536) and vocabulary (262,144) with 2 of its layers: the LM side at the size that matters
    for the argmax (vocabulary, residual width), cheap enough to run here."""
    return Gemma4TextConfig(vocab_size=262_144, vocab_size_per_layer_input=262_144, hidden_size_per_layer_input=256,
                            hidden_size=1536, intermediate_size=6144, num_hidden_layers=2, num_attention_heads=8,
                            num_key_value_heads=1, head_dim=256, global_head_dim=512,
                            layer_types=["sliding_attention", "full_attention"], sliding_window=512)


@torch.no_grad()
def make_e2b(out: Path, threads: int) -> None:
    """DIR/model (E2B-size audio tower, small LM at E2B width, bf16) and DIR/speech10s.wav. Never under Tests/."""
    resolved = out.resolve()
    if resolved == REPO / "Tests" or (REPO / "Tests") in resolved.parents:
        raise SystemExit(f"refusing to write the E2B-size model into {resolved}: it must stay out of Tests/")
    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpname:
        clip = mf.fit(mf.espeak(mf.TEXT_E2B, mf.SAMPLE_RATE, Path(tmpname)), 160_000)  # 10 s, as --e2b-check
    wav_path = out / "speech10s.wav"
    mf.write_wav(wav_path, clip[:, None], mf.SAMPLE_RATE, "int16")
    decoded, rate, _ = mf.read_wav(wav_path)
    fe = Gemma4AudioFeatureExtractor()
    features, mask, n_valid = mf.features_for(fe, mf.to_model_input(decoded, rate))

    spec = mf.E2B
    audio = mf.make_config(spec).audio_config
    vision = Gemma4VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=2, head_dim=8, patch_size=4, position_embedding_size=8)
    config = Gemma4Config(text_config=text_config_e2b_width().to_dict(), audio_config=audio.to_dict(),
                          vision_config=vision.to_dict())
    torch.manual_seed(spec.seed)
    print("building the model ...", flush=True)
    model = Gemma4ForConditionalGeneration(config).float().eval()
    tower, embedder = model.model.audio_tower, model.model.embed_audio
    mf.randomize(tower, embedder, spec)
    mf.calibrate_clamps(tower, spec, features, mask, mf.tokens_for_frames(n_valid))
    model.to(torch.bfloat16).save_pretrained(out / "model")
    audio_params = sum(p.numel() for p in tower.parameters())
    print(f"wrote {out}/model ({audio_params:,} audio-tower parameters, text vocab "
          f"{config.text_config.vocab_size}, width {config.text_config.hidden_size}, bf16) and {wav_path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a Gemma4ForConditionalGeneration directory (save_pretrained)")
    parser.add_argument("--input", type=Path, help="the audio clip (WAV)")
    parser.add_argument("--earshot", type=Path, default=REPO / ".build" / "debug" / "earshot")
    parser.add_argument("--precisions", default="f32,fast,bf16", help="Earshot precisions, comma-separated")
    parser.add_argument("--threads", type=int, default=2, help="torch and Earshot threads")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--make-e2b", type=Path, metavar="DIR", help="write the E2B-size check model and clip")
    args = parser.parse_args(argv)
    mf.setup_torch()
    if args.make_e2b:
        make_e2b(args.make_e2b, args.threads)
        return 0
    if not (args.model and args.input):
        parser.error("--model and --input are required (or --make-e2b DIR)")
    args.precisions = [p for p in args.precisions.split(",") if p]
    report = run_check(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
