#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, plus the libFuzzer
# targets of fuzz/ (clang only) run for REG4REC_FUZZ_SECONDS each from their seed corpora.
# Any sanitizer report fails the run: UBSan is built with -fno-sanitize-recover=all and ASan
# aborts on its first error. See docs/robustness.md.
#
#   scripts/test-sanitize.sh                      # build dir: build-asan/, clang++ when present
#   CXX=g++ scripts/test-sanitize.sh              # GCC's sanitizers instead (no fuzz targets)
#   REG4REC_FUZZ_SECONDS=60 scripts/test-sanitize.sh -L fuzz   # only the fuzz tests, longer
#
# Extra arguments go to ctest. Slow: the build alone takes ~25-35 minutes on 2 cores, the tests
# run several times slower than in the Release build; not part of scripts/test.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ -z "${CXX:-}" ]]; then
  if command -v clang++ >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1; then
    "$ROOT/scripts/install-deps.sh" clang libclang-rt-14-dev libomp-14-dev
    CXX=clang++
  else
    CXX=g++
  fi
else
  "$ROOT/scripts/install-deps.sh"
fi

BUILD="${BUILD_DIR:-$ROOT/build-asan}"
# -O2 keeps the sanitized tests fast enough; line tables give symbolized reports.
DEBUG_FLAGS="-g1"
[[ "$($CXX --version)" == *clang* ]] && DEBUG_FLAGS="-gline-tables-only"
cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 $DEBUG_FLAGS -DNDEBUG" -DREG4REC_SANITIZE=ON \
  -DREG4REC_BUILD_BENCHMARKS=OFF -DREG4REC_BUILD_EXAMPLES=ON -DREG4REC_BUILD_APPS=ON \
  -DREG4REC_FUZZ_SECONDS="${REG4REC_FUZZ_SECONDS:-10}" >/dev/null
start=$SECONDS
cmake --build "$BUILD" -j "$JOBS"
echo "[reg4rec] sanitizer build: $((SECONDS - start)) s"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
start=$SECONDS
(cd "$BUILD" && ctest -j "$JOBS" --output-on-failure --timeout 3000 "$@")
echo "[reg4rec] sanitizer tests: $((SECONDS - start)) s"
echo "[reg4rec] all sanitized tests passed, no sanitizer reports"
