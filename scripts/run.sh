#!/usr/bin/env bash
# The main job: installs what is missing, builds the reg4rec command-line program and runs
# the end-to-end pipeline on the bundled dataset, printing the metrics table.
#
#   scripts/run.sh [extra arguments for 'reg4rec pipeline']
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$ROOT/scripts/install-deps.sh"

BUILD="${BUILD_DIR:-$ROOT/build}"
cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DREG4REC_BUILD_TESTS=OFF -DREG4REC_BUILD_BENCHMARKS=OFF -DREG4REC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target reg4rec_cli
"$BUILD/apps/reg4rec/reg4rec" pipeline "$@"
