#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds the library's tests, examples,
# benchmarks and command-line program, and runs every test. With nvcc on PATH it also builds
# the CUDA add-on and its tests (which skip without a GPU).
#
#   scripts/test.sh            # build dir: build-test/
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$ROOT/scripts/install-deps.sh"

BUILD="${BUILD_DIR:-$ROOT/build-test}"
cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS"
(cd "$BUILD" && ctest -j "$JOBS" --output-on-failure --timeout 600)

if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="$PATH:/usr/local/cuda/bin"
  cmake -S "$ROOT" -B "$BUILD-cuda" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DREG4REC_ENABLE_CUDA=ON -DREG4REC_BUILD_BENCHMARKS=OFF -DREG4REC_BUILD_EXAMPLES=OFF \
    -DREG4REC_BUILD_APPS=OFF >/dev/null
  cmake --build "$BUILD-cuda" -j "$JOBS" --target cuda_tests
  (cd "$BUILD-cuda" && ctest -R '^cuda_tests$' --output-on-failure)
fi
echo "[reg4rec] all tests passed"
