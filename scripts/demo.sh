#!/usr/bin/env bash
# The README's first command (`make demo`): Earshot on a spoken demo clip, played at real-time speed, with a live
# view of every embedding as it leaves the encoder.
#
# The model is real-size (Gemma 4 E2B audio tower: 1024 wide, 12 layers, D = 1536) with DETERMINISTIC RANDOM
# WEIGHTS: the embeddings it prints mean nothing; they cost what real ones cost. To hear with real weights, pass a
# Hugging Face model directory (google/gemma-4-E2B-it) or a llama.cpp mmproj GGUF:
#     EARSHOT_MODEL=/path/to/gemma-4-E2B-it make demo
set -euo pipefail
cd "$(dirname "$0")/.."
model=${EARSHOT_MODEL:-random:e2b}
bin=.build/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

clip="$work/demo.wav"
espeak-ng --stdout "Earshot listens as you speak. Every forty milliseconds of sound becomes one Gemma four \
audio embedding, computed moments after the sound arrives, and identical to the offline encoder." \
    | sox -D -t wav - -r 16000 -c 1 -b 16 -e signed-integer "$clip"

# The daemon on a live source (or the clip, played in real time), watched by `earshot listen`.
if [ -x "$bin/earshotd" ]; then
    exec scripts/daemon-demo.sh "$model" "$clip"
fi

# Without earshotd (a partial build): the streaming encoder on the clip, in-process.
if [ "$model" = "random:e2b" ]; then
    echo "earshot demo: model = real-size Gemma 4 E2B audio encoder with deterministic RANDOM weights."
    echo "              These embeddings mean nothing. For real ones: EARSHOT_MODEL=/path/to/gemma-4-E2B-it make demo"
fi
echo "earshot demo: streaming $(soxi -D "$clip") s of speech at real-time speed, 12-token blocks (480 ms)"
"$bin/earshot" encode --model "$model" --input "$clip" --output "$work/embeddings.npy" \
    --stream --realtime --view --chunk-ms 20 --block-tokens 12
