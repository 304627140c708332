#!/usr/bin/env bash
# The CUDA check, as one device call (under 8 minutes): builds adapterbias against the device's LibTorch, runs
# the CUDA tests (packed = padded, bf16 tolerances; tests skip them on CPU-only machines), one short training on
# the GPU, and a throughput table: a BERT-base-shaped encoder (random weights from a config: L 12, H 768) in
# AdapterBias training and inference, adapterbias against transformers bf16 with SDPA, lengths 128 and mixed.
#
# Prepare here (no registry on the device machine), then run it there with the run tool:
#   bash ../shared/device/fetch-debs.sh .devdeps && mkdir -p .devdeps-tools && cp ../shared/device/unpack-debs.sh .devdeps-tools/
#   run: bash bench/gpu.sh     carry: [".devdeps", ".devdeps-tools"]
# Results: $OUT/gpu-results.md (the table for README) and $OUT/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
eval "$(bash .devdeps-tools/unpack-debs.sh .devdeps /tmp/deps)"
BUILD=build-cuda
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DADAPTERBIAS_BUILD_BENCH=ON >"$OUT/configure.log" 2>&1
cmake --build "$BUILD" -j"$(nproc)" --target adapterbias model_tests peft_tests encoder_bench >"$OUT/build.log" 2>&1

# CUDA tests (and the CPU ones: they must pass on that machine too).
"$BUILD/tests/model/model_tests" >"$OUT/model_tests.log" 2>&1 || { tail -40 "$OUT/model_tests.log"; exit 1; }
"$BUILD/tests/peft/peft_tests" >"$OUT/peft_tests.log" 2>&1 || { tail -40 "$OUT/peft_tests.log"; exit 1; }
grep -E "PackedCuda|PASSED|FAILED|SKIPPED" "$OUT/model_tests.log" | tail -5

# A BERT-base-shaped checkpoint with random weights (transformers is on the device machine), tokenizer from a
# tiny WordPiece vocabulary written here.
python3 bench/gpu_check.py --out "$OUT" --bin "$BUILD/src/adapterbias" --bench "$BUILD/bench/encoder_bench" | tee "$OUT/gpu-results.md"
