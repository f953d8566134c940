#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds the library's tests, examples,
# benchmarks and command-line program, and runs every test. With nvcc on PATH it also builds
# the CUDA add-on and its tests (which skip without a GPU); these side builds and the fuzz smoke
# run first, the main suite last.
#
#   scripts/test.sh            # build dir: build-test/
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$ROOT/scripts/install-deps.sh"

BUILD="${BUILD_DIR:-$ROOT/build-test}"

# Fuzz smoke (needs clang with libFuzzer: Debian clang + libclang-rt-14-dev): the six fuzz
# targets, built alone with clang under ASan + UBSan, each mutate their seed corpus for
# REG4REC_FUZZ_SECONDS (default 3). Without clang the corpora are still replayed by
# robustness_tests in the main suite. REG4REC_FUZZ_SMOKE=0 skips it. Longer runs: docs/robustness.md.
if [[ "${REG4REC_FUZZ_SMOKE:-1}" != 0 ]] && command -v clang++ >/dev/null 2>&1; then
  cmake -S "$ROOT" -B "$BUILD-fuzz" "${GENERATOR[@]}" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" -DREG4REC_BUILD_FUZZERS=ON -DREG4REC_BUILD_APPS=OFF \
    -DREG4REC_BUILD_EXAMPLES=OFF -DREG4REC_BUILD_BENCHMARKS=OFF \
    -DREG4REC_FUZZ_SECONDS="${REG4REC_FUZZ_SECONDS:-3}" >/dev/null
  if grep -q '^REG4REC_LIBFUZZER_LINKS:INTERNAL=1' "$BUILD-fuzz/CMakeCache.txt"; then
    cmake --build "$BUILD-fuzz" -j "$JOBS" --target fuzz_all
    (cd "$BUILD-fuzz" && ctest -L fuzz -j "$JOBS" --output-on-failure --timeout 300)
  else
    echo "[reg4rec] fuzz smoke skipped: clang++ cannot link libFuzzer (install libclang-rt-14-dev)"
  fi
fi

if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="$PATH:/usr/local/cuda/bin"
  cmake -S "$ROOT" -B "$BUILD-cuda" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DREG4REC_ENABLE_CUDA=ON -DREG4REC_BENCH_FAISS=OFF -DREG4REC_BUILD_EXAMPLES=OFF \
    -DREG4REC_BUILD_APPS=OFF >/dev/null
  # The GPU benchmark is built (not run) so that a change breaking it shows here.
  cmake --build "$BUILD-cuda" -j "$JOBS" --target cuda_tests reg4rec_cuda_bench
  (cd "$BUILD-cuda" && ctest -R '^cuda_tests$' --output-on-failure)
fi
# The main suite last, so that its CTest summary is the one the log ends with.
cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS"
(cd "$BUILD" && ctest -j "$JOBS" --output-on-failure --timeout 600)
echo "[reg4rec] all tests passed"
