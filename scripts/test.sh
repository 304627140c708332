#!/usr/bin/env bash
# Runs every test (GoogleTest suites and the pytest reference-parity tests through CTest) after setting up
# and building what is missing. Extra arguments go to ctest, e.g. scripts/test.sh -L fast
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# One test process per core (nproc alone would follow OMP_NUM_THREADS and run them one at a time), and one
# thread per test process: OpenMP threads that outnumber the free cores spin at barriers and run many times
# slower.
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$cores" "$@"
# A full run also builds the torch-free layers under AddressSanitizer + UndefinedBehaviorSanitizer and runs
# their unit tests and fuzz targets (scripts/sanitize.sh, about 4 minutes on 2 cores).
if [ $# -eq 0 ]; then
  scripts/sanitize.sh
fi
