#!/usr/bin/env bash
# Runs every test (GoogleTest suites and the pytest reference-parity tests through CTest) after setting up
# and building what is missing. Extra arguments go to ctest, e.g. scripts/test.sh -L fast
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" "$@"
