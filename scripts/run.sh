#!/usr/bin/env bash
# The main job on the embedded default: encode a few sentences with the packaged MiniLM and print the pooled
# embeddings' shape and their cosine similarities.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build/src/adapterbias embed --model minilm --input data/sample/sentences.jsonl --output "$out/embeddings.safetensors"
python3 scripts/show_embeddings.py data/sample/sentences.jsonl "$out/embeddings.safetensors"
