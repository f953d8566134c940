#!/bin/sh
# Runs one fuzz target from its seed corpus: run_fuzzer.sh BINARY SEEDS WORKDIR [libFuzzer flags]
# New inputs go to WORKDIR (the first corpus directory libFuzzer writes to); the seed folder is
# only read. Crash reproducers land in WORKDIR/artifacts/. Prints the execution count.
set -eu
bin=$1 seeds=$2 work=$3
shift 3
mkdir -p "$work/corpus" "$work/artifacts"
exec "$bin" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
  "$@" "$work/corpus" "$seeds"
