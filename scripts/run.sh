#!/usr/bin/env bash
# The main job on the embedded default: train AdapterBias on the packaged MiniLM with the SST-2 sample
# (2,000 train rows, full dev set) and print the dev accuracy and the adapter's size beside the backbone's.
# Extra arguments go to `adapterbias train` (e.g. --epochs 1). Running it again replaces the earlier sample run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
out=${OUT_DIR:-runs/sst2-sample}
build/src/adapterbias train --model minilm --task sst-2 --data data/sample --out "$out" \
  --epochs 4 --lr 2e-3 --threads "$(nproc)" --overwrite "$@"
