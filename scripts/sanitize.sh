#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer over the torch-free layers (core, tokenizer, data, metadata):
# their unit tests, each fuzz target's corpus, and AB_FUZZ_SECONDS (default 10) of mutation per target.
# Built without precompiled headers (there is no LibTorch here to precompile), so a missing include shows.
# Expects scripts/setup.sh to have installed the Debian packages (scripts/test.sh runs both).
#   scripts/sanitize.sh            build into build/sanitize and run
#   scripts/sanitize.sh -R fuzz    extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${SANITIZE_BUILD_DIR:-build/sanitize}
if [ ! -f "$DIR/build.ninja" ]; then
  cmake -S . -B "$DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DADAPTERBIAS_WITH_TORCH=OFF \
    -DADAPTERBIAS_SANITIZE=ON -DAB_FUZZ_SECONDS="${AB_FUZZ_SECONDS:-10}" >/dev/null
fi
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc alone follows OMP_NUM_THREADS
cmake --build "$DIR" -j"$cores"
# Any report fails the test that caused it; leaks are reported too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$DIR" --output-on-failure -j"$cores" "$@"
