#!/usr/bin/env bash
# Tests of the reg4rec program, run by CTest (tests/CMakeLists.txt):
#
#   cli_test.sh errors    BINARY SOURCE_DIR TOYS_DIR   bad invocations: one-line error + usage,
#                                                      exit status, no half-written output
#   cli_test.sh pipeline  BINARY SOURCE_DIR TOYS_DIR   pipeline --model popularity on the bundled
#                                                      data and on Toys (skipped when absent)
#   cli_test.sh models    BINARY SOURCE_DIR TOYS_DIR   train / align / evaluate / recommend round
#                                                      trips and a small pipeline with the report
#
# Everything runs on the tiny synthetic dataset of tests/cli/data/tiny (or the bundled data for
# the popularity smoke test) with settings small enough to take seconds.
set -u
MODE=$1
BIN=$2
SRC=$3
TOYS=$4
TINY="$SRC/tests/cli/data/tiny"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMP_WAIT_POLICY=PASSIVE
FAILS=0
# Tiny model settings: one epoch, a small network, few validation users.
SMALL=(--epochs 1 --vae-epochs 1 --eval-users 20 --d-model 16 --d-ff 32 --layers 1 --beam 5 --quiet)

fail() {
  echo "FAIL: $*"
  FAILS=$((FAILS + 1))
}

# run NAME EXPECTED_RC CMD...: runs CMD, stdout/stderr in $T/NAME.out/.err, checks the status.
run() {
  local name=$1 want=$2
  shift 2
  "$@" >"$T/$name.out" 2>"$T/$name.err"
  local rc=$?
  if [[ "$want" == "nonzero" ]]; then
    [[ $rc -ne 0 ]] || fail "$name: expected a non-zero exit status, got 0"
  elif [[ $rc -ne $want ]]; then
    fail "$name: exit status $rc, expected $want; stderr: $(head -c 600 "$T/$name.err")"
  fi
  return 0
}

# bad NAME EXPECTED_RC PATTERN CMD...: a bad invocation. Stderr must be exactly one error line
# "reg4rec <command>: ..." matching PATTERN, then the usage ("usage: reg4rec <command> ...",
# possibly continued on indented lines); nothing on stdout.
bad() {
  local name=$1 want=$2 pattern=$3
  shift 3
  run "$name" "$want" "$@"
  local cmd=$2
  local first second
  first=$(sed -n 1p "$T/$name.err")
  second=$(sed -n 2p "$T/$name.err")
  [[ "$first" == "reg4rec $cmd: "* ]] || fail "$name: first stderr line is not 'reg4rec $cmd: ...': '$first'"
  grep -Eq -- "$pattern" <<<"$first" || fail "$name: error line does not match /$pattern/: '$first'"
  [[ "$second" == "usage: reg4rec $cmd"* ]] || fail "$name: second stderr line is not the usage: '$second'"
  if [[ $(wc -l <"$T/$name.err") -gt 2 ]]; then
    tail -n +3 "$T/$name.err" | grep -qv '^ ' && fail "$name: more than one error line: $(cat "$T/$name.err")"
  fi
  [[ ! -s "$T/$name.out" ]] || fail "$name: wrote to stdout: $(head -c 300 "$T/$name.out")"
  return 0
}

# has_keys FILE KEY...: every key appears as a JSON key in FILE.
has_keys() {
  local f=$1
  shift
  [[ -f "$f" ]] || { fail "$f was not written"; return 0; }
  for k in "$@"; do
    grep -q "\"$k\":" "$f" || fail "$f lacks the key \"$k\""
  done
}

# small_npy FILE ROWS COLS: a float32 .npy file of zeros, written with printf (no Python needed).
small_npy() {
  local dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($2, $3), }"
  while (((10 + ${#dict} + 1) % 64)); do dict+=" "; done
  local len=$((${#dict} + 1))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf '%02x' $((len % 256)))\\x$(printf '%02x' $((len / 256)))"
    printf '%s\n' "$dict"
    head -c $(($2 * $3 * 4)) /dev/zero
  } >"$1"
}

no_partial_files() {
  local left
  left=$(find "$T" \( -name '*.tmp.*' -o -name '*.partial-*' -o -name '*.old-*' \) -print)
  [[ -z "$left" ]] || fail "temporary files left behind: $left"
}

case "$MODE" in
errors)
  run no_args 2 "$BIN"
  grep -q '^usage: reg4rec <command>' "$T/no_args.err" || fail "no_args: no usage on stderr"
  run unknown_command 2 "$BIN" frobnicate
  grep -q "unknown command 'frobnicate'" "$T/unknown_command.err" || fail "unknown_command: message"
  run help 0 "$BIN" --help
  for cmd in info features tokenize train align evaluate recommend pipeline ablation; do
    run "help_$cmd" 0 "$BIN" "$cmd" --help
    grep -q "^usage: reg4rec $cmd" "$T/help_$cmd.out" || fail "$cmd --help does not print its usage"
    grep -q "  $cmd " "$T/help.out" || fail "reg4rec --help does not list $cmd"
    bad "unknown_flag_$cmd" 2 "unknown option '--no-such-flag'" "$BIN" "$cmd" --no-such-flag 1
  done

  # Missing files and folders: exit 1, one line naming the path, the usage.
  bad missing_npy 1 "nope.npy" "$BIN" features --features "$T/nope.npy"
  bad missing_data_features 1 "nope" "$BIN" features --data "$T/nope" --out "$T/f.npy"
  bad missing_data_pipeline 1 "nope" "$BIN" pipeline --data "$T/nope" --out "$T/out_missing"
  bad missing_data_train 1 "nope" "$BIN" train --data "$T/nope" --out "$T/model_missing"
  bad missing_data_tokenize 1 "nope" "$BIN" tokenize --data "$T/nope" --out "$T/tok_missing"
  bad missing_model_evaluate 1 "no such model folder" "$BIN" evaluate --model-dir "$T/nope"
  bad missing_model_recommend 1 "no such model folder" "$BIN" recommend --model-dir "$T/nope" --user 1
  bad missing_model_align 1 "no such model folder" "$BIN" align --model-dir "$T/nope"
  mkdir -p "$T/not_a_model"
  bad not_a_model 1 "manifest.json is missing" "$BIN" evaluate --model-dir "$T/not_a_model"
  [[ ! -e "$T/f.npy" && ! -e "$T/out_missing" && ! -e "$T/model_missing" && ! -e "$T/tok_missing" ]] ||
    fail "an output was created by a failed command"

  # Wrong formats.
  echo "not an npy file" >"$T/bad.npy"
  bad bad_npy 1 "bad.npy" "$BIN" features --features "$T/bad.npy"
  mkdir -p "$T/bad_data"
  printf '1 1 2 3\n2 x 5\n' >"$T/bad_data/seq.txt"
  bad bad_sequences 1 "seq.txt:2" "$BIN" pipeline --data "$T/bad_data" --model popularity --out "$T/out_bad"
  [[ ! -e "$T/out_bad" ]] || fail "pipeline created its output folder for a malformed dataset"
  mkdir -p "$T/bad_model"
  echo '{"format": "reg4rec-model", "version": 1, ' >"$T/bad_model/manifest.json"
  bad bad_manifest 1 "manifest.json" "$BIN" evaluate --model-dir "$T/bad_model"
  echo '{"format": "something-else"}' >"$T/bad_model/manifest.json"
  bad foreign_manifest 1 "not a reg4rec model manifest" "$BIN" recommend --model-dir "$T/bad_model" --history 1
  bad bad_number 2 "expects a number" "$BIN" pipeline --epochs abc
  bad bad_integer 2 "expects an integer" "$BIN" pipeline --seed 1.5
  bad bad_preset 2 "quick or full" "$BIN" train --preset medium
  bad bad_model 2 "unknown model 'nosuch'" "$BIN" pipeline --model nosuch
  bad bad_train_model 2 "unknown model" "$BIN" train --model nosuch
  bad bad_stage 2 "test or validation" "$BIN" evaluate --model-dir "$T/bad_model" --stage holdout
  bad missing_value 2 "needs a value" "$BIN" train --out
  bad stray_argument 2 "unexpected argument" "$BIN" evaluate stray
  bad bad_threads 2 "at least 1" "$BIN" pipeline --threads 0
  bad negative_reward 2 "must not be negative" "$BIN" train --model reg4rec --reward-consistency -1
  bad no_reward 2 "every --reward-\* weight is 0" "$BIN" train --model reg4rec --reward-step-hit 0 --reward-global-path 0 --reward-category-hit 0 --reward-consistency 0
  bad bad_category_depth 2 "whole number" "$BIN" train --model reg4rec --category-depth 1.5
  bad user_and_history 2 "exactly one" "$BIN" recommend --model-dir "$T/bad_model" --user 1 --history 2
  bad features_conflict 2 "builds features" "$BIN" features --features "$T/bad.npy" --out "$T/x.npy"
  no_partial_files
  ;;

pipeline)
  # The default dataset (bundled Beauty), most-popular only: metrics.json with the keys of the issue.
  run pop_beauty 0 "$BIN" pipeline --model popularity --out "$T/beauty" --quiet
  has_keys "$T/beauty/metrics.json" model dataset split users recall@5 recall@10 ndcg@5 ndcg@10 mrr train_seconds tokenizer config
  has_keys "$T/beauty/popularity/metrics.json" model recall@10
  grep -q '"dataset": "beauty"' "$T/beauty/metrics.json" || fail "beauty metrics.json: dataset is not beauty"
  grep -q '<html' "$T/beauty/report.html" || fail "beauty: no report.html"
  grep -q 'popularity' "$T/beauty/report.html" || fail "beauty: the report lacks the model"
  grep -q '| popularity |' "$T/pop_beauty.out" || fail "beauty: no summary table on stdout"
  # Toys, unchanged invocation.
  if [[ -d "$TOYS" ]]; then
    run pop_toys 0 "$BIN" pipeline --data "$TOYS" --model popularity --out "$T/toys" --quiet
    has_keys "$T/toys/metrics.json" model dataset split users recall@5 recall@10 ndcg@5 ndcg@10 mrr train_seconds
    grep -q '"dataset": "toys"' "$T/toys/metrics.json" || fail "toys metrics.json: dataset is not toys"
  else
    echo "skipped: no Toys folder at $TOYS"
  fi
  no_partial_files
  ;;

models)
  # Features: build, then report on the file.
  run features_build 0 "$BIN" features --data "$TINY" --out "$T/features.npy" --quiet
  run features_report 0 "$BIN" features --features "$T/features.npy" --data "$TINY"
  grep -q '320 items x 384 dimensions' "$T/features_report.out" || fail "features report: shape line"
  # --for tiger builds the mix the presets give TIGER's RQ-VAE (behaviour 256 wide).
  run features_tiger 0 "$BIN" features --data "$TINY" --for tiger --out "$T/features_tiger.npy" --quiet
  run features_tiger_report 0 "$BIN" features --features "$T/features_tiger.npy"
  grep -q '320 items x 512 dimensions' "$T/features_tiger_report.out" || fail "features --for tiger: shape line"
  # Graph smoothing: same shape, other values; restart outside [0, 1] refused.
  run features_smooth 0 "$BIN" features --data "$TINY" --out "$T/features_smooth.npy" --smooth-hops 2 --quiet
  run features_smooth_report 0 "$BIN" features --features "$T/features_smooth.npy"
  grep -q '320 items x 384 dimensions' "$T/features_smooth_report.out" || fail "features --smooth-hops: shape line"
  ! cmp -s "$T/features.npy" "$T/features_smooth.npy" || fail "features --smooth-hops 2 changed nothing"
  bad features_restart 2 "--smooth-restart must lie in \[0, 1\]" "$BIN" features --data "$TINY" --out "$T/x.npy" \
    --smooth-restart 1.5
  bad item_embedding_full 2 "--item-embedding 1 needs item-level" "$BIN" train --model tiger --data "$TINY" \
    --out "$T/never" --item-embedding 1 --item-level 0 "${SMALL[@]}"
  bad train_restart 2 "--smooth-restart must lie in \[0, 1\]" "$BIN" train --model tiger --data "$TINY" \
    --out "$T/never" --smooth-restart 1.5 "${SMALL[@]}"
  bad features_for 2 "--for must be tiger or reg4rec" "$BIN" features --data "$TINY" --for sasrec --out "$T/x.npy"
  # MMQ's modality experts need the built features (a file's blocks are unknown) and 2K experts.
  bad modal_with_file 2 "--modal-experts needs the built" "$BIN" train --model reg4rec-sft --data "$TINY" --out "$T/never" \
    --features "$T/features.npy" --modal-experts 1 "${SMALL[@]}"
  bad modal_too_many 2 "--modal-experts 3 needs at least 6 experts" "$BIN" train --model reg4rec-sft --data "$TINY" \
    --out "$T/never" --modal-experts 3 "${SMALL[@]}"
  [[ ! -e "$T/never" ]] || fail "a usage error left a model folder"
  bad modal_tokenize 2 "--modal-experts 3 needs at least 6 experts" "$BIN" tokenize --data "$TINY" --method rq-kmeans,mpq \
    --modal-experts 3 --out "$T/never_tok" --quiet
  # S²GR's codebook terms: checked up front, accepted by tokenize, reported with the perplexity.
  bad negative_usage_bias 2 "--usage-bias must not be negative" "$BIN" train --model tiger --data "$TINY" \
    --out "$T/never" --usage-bias -1 "${SMALL[@]}"
  bad negative_remaining_weight 2 "--remaining-weight must not be negative" "$BIN" train --model reg4rec-sft \
    --data "$TINY" --out "$T/never" --remaining-weight -0.5 "${SMALL[@]}"
  bad negative_uniformity 2 "--uniformity must not be negative" "$BIN" tokenize --data "$TINY" --uniformity -0.5 \
    --out "$T/never_tok" --quiet
  run tokenize_balanced 0 "$BIN" tokenize --data "$TINY" --method rq-vae,mpq --vae-epochs 2 --usage-bias 0.5 \
    --uniformity 1 --out "$T/tok_balanced" --quiet
  grep -q '| perplexity |' "$T/tok_balanced/tokenizers.md" || fail "tokenizers.md has no perplexity column"
  [[ $(grep -c '^| \(rq-vae\|mpq\) |' "$T/tok_balanced/tokenizers.md") == 2 ]] || fail "tokenizers.md lacks a tokenizer row"

  # TIGER: train, replace, evaluate, recommend.
  run train_tiger 0 "$BIN" train --model tiger --data "$TINY" --out "$T/tiger" --features "$T/features.npy" "${SMALL[@]}"
  for f in manifest.json generator.r4r trie.r4r tokenizer.r4r item_ids.txt popularity.npy; do
    [[ -f "$T/tiger/$f" ]] || fail "tiger model folder lacks $f"
  done
  ! grep -q 'note:' "$T/train_tiger.err" || fail "train tiger: a note about unused options: $(cat "$T/train_tiger.err")"
  run train_tiger_again 0 "$BIN" train --model tiger --data "$TINY" --out "$T/tiger" --features "$T/features.npy" "${SMALL[@]}" \
    --mpq-decorrelation 0.1 --smooth-hops 1 --confidence margin
  grep -q 'note: --mpq-decorrelation was not used by tiger' "$T/train_tiger_again.err" ||
    fail "train tiger with an MPQ option: no note that it was ignored"
  grep -q 'note: --smooth-hops was not used by tiger' "$T/train_tiger_again.err" ||
    fail "train tiger with --features and --smooth-hops: no note that the mix option was ignored"
  grep -q 'note: --confidence was not used by tiger' "$T/train_tiger_again.err" ||
    fail "train tiger with --confidence: no note that it was ignored"
  run evaluate_tiger 0 "$BIN" evaluate --model-dir "$T/tiger" --quiet
  has_keys "$T/tiger/metrics-test.json" model dataset split users recall@5 recall@10 ndcg@5 ndcg@10 mrr
  run recommend_tiger 0 "$BIN" recommend --model-dir "$T/tiger" --user 7 --k 5
  grep -q 'path: c0:' "$T/recommend_tiger.out" || fail "recommend tiger: no reasoning path"
  run recommend_history 0 "$BIN" recommend --model-dir "$T/tiger" --history "1 2,3" --k 3 --json
  grep -q '"recommendations"' "$T/recommend_history.out" || fail "recommend --json: no recommendations"
  bad unknown_user 1 "unknown user id '99999'" "$BIN" recommend --model-dir "$T/tiger" --user 99999
  bad unknown_item 1 "unknown item id 'B0NOPE'" "$BIN" recommend --model-dir "$T/tiger" --history "1 B0NOPE"
  bad corp_on_tiger 2 "REG4Rec model" "$BIN" evaluate --model-dir "$T/tiger" --corp
  bad align_tiger 2 "unordered MPQ tokens" "$BIN" align --model-dir "$T/tiger"
  bad other_dataset 1 "is not the dataset" "$BIN" evaluate --model-dir "$T/tiger" --data "$SRC/data/beauty"
  mkdir -p "$T/occupied" && echo keep >"$T/occupied/notes.txt"
  bad occupied_out 1 "refusing to replace" "$BIN" train --model tiger --data "$TINY" --out "$T/occupied" "${SMALL[@]}"
  grep -q keep "$T/occupied/notes.txt" || fail "train touched a folder that is not a model"
  # A failure after loading (features of the wrong size) leaves no model folder.
  small_npy "$T/wrong_rows.npy" 7 5
  run wrong_rows_report 0 "$BIN" features --features "$T/wrong_rows.npy"
  grep -q '7 items x 5 dimensions' "$T/wrong_rows_report.out" || fail "features report of a hand-made .npy"
  run wrong_features 1 "$BIN" train --model tiger --data "$TINY" --out "$T/never" --features "$T/wrong_rows.npy" "${SMALL[@]}"
  [[ ! -e "$T/never" ]] || fail "a failed train left a model folder"
  bad behaviour_dim_zero 2 "--behaviour-dim must be at least 1" "$BIN" train --model tiger --data "$TINY" --out "$T/never" \
    --behaviour-dim 0
  # A reflection head: recorded with the model, its decode weight saved and overridable,
  # bad weights and a weight without a head refused.
  bad negative_reflection 2 "--reflection must not be negative" "$BIN" train --model reg4rec-sft --data "$TINY" \
    --out "$T/never" --reflection -1 "${SMALL[@]}"
  bad reflection_no_head 2 "needs a reflection head" "$BIN" train --model tiger --data "$TINY" --out "$T/never" \
    --features "$T/features.npy" --reflection-decode 1 "${SMALL[@]}"
  bad reflection_tied_half 2 "reflection-tied 1 needs" "$BIN" train --model reg4rec-sft --data "$TINY" \
    --out "$T/never" --reflection 1 --reflection-tied 1 --item-embedding 1 "${SMALL[@]}"
  run train_reflection 0 "$BIN" train --model tiger --data "$TINY" --out "$T/tiger_refl" --features "$T/features.npy" \
    --reflection 2 "${SMALL[@]}"
  grep -q '"reflection": 1' "$T/tiger_refl/manifest.json" || fail "train --reflection: no decode weight in the manifest"
  grep -q '"reflection_weight": 2' "$T/tiger_refl/manifest.json" || fail "train --reflection: the weight not recorded"
  run evaluate_reflection 0 "$BIN" evaluate --model-dir "$T/tiger_refl" --reflection-decode 3 --quiet
  run train_reflection_tied 0 "$BIN" train --model reg4rec-sft --data "$TINY" --out "$T/sft_tied" --reflection 1 \
    --reflection-items 1 --item-embedding 1 --reflection-tied 1 "${SMALL[@]}"
  grep -q '"reflection_tied": true' "$T/sft_tied/manifest.json" || fail "train --reflection-tied: not recorded"
  run evaluate_reflection_tied 0 "$BIN" evaluate --model-dir "$T/sft_tied" --quiet
  bad evaluate_reflection_no_head 2 "reflection head" "$BIN" evaluate --model-dir "$T/tiger" --reflection-decode 1

  # Features built in the run: TIGER's RQ-VAE reads the behaviour-leaning mix, MPQ the default.
  run pipeline_built 0 "$BIN" pipeline --data "$TINY" --model tiger,reg4rec-sft --out "$T/pipe_built" "${SMALL[@]}"
  grep -q '"features": "\[text ; behaviour 256 wide\], text weight 0.5' "$T/pipe_built/tiger/metrics.json" ||
    fail "pipeline: TIGER's feature mix not recorded"
  grep -q '"features": "\[text ; behaviour 128 wide\], text weight 1,' "$T/pipe_built/reg4rec-sft/metrics.json" ||
    fail "pipeline: REG4Rec's feature mix not recorded"
  # Smoothed features and the bidirectional encoder (one prefix per sample) are recorded.
  run pipeline_smooth_bidir 0 "$BIN" pipeline --data "$TINY" --model reg4rec-sft --out "$T/pipe_bidir" --smooth-hops 1 \
    --bidirectional 1 --item-embedding 1 "${SMALL[@]}"
  grep -q 'graph-smoothed 1 hop, restart 0.5' "$T/pipe_bidir/reg4rec-sft/metrics.json" ||
    fail "pipeline: smoothing not recorded"
  grep -q '"encoder_attention": "bidirectional"' "$T/pipe_bidir/reg4rec-sft/metrics.json" ||
    fail "pipeline: bidirectional not recorded"
  grep -q '"item_id_embedding": true' "$T/pipe_bidir/reg4rec-sft/metrics.json" ||
    fail "pipeline: the item-id embedding not recorded"

  # REG4Rec: SFT, PARS + MSRA, evaluate with CORP, recommend with the reasoning path.
  run train_sft 0 "$BIN" train --model reg4rec-sft --data "$TINY" --out "$T/sft" --features "$T/features.npy" "${SMALL[@]}"
  [[ -f "$T/sft/posting.r4r" && -f "$T/sft/categories.r4r" ]] || fail "reg4rec-sft folder lacks posting.r4r or categories.r4r"
  run align 0 "$BIN" align --model-dir "$T/sft" --pars-epochs 1 --pars-users 64 --pars-paths 4 --msra-steps 2 \
    --eval-users 20 --beam 5 --quiet
  grep -q '"model": "reg4rec"' "$T/sft-aligned/manifest.json" || fail "align: the new folder is not a reg4rec model"
  grep -q '"corp": true' "$T/sft-aligned/manifest.json" || fail "align: CORP is not on by default"
  run evaluate_corp 0 "$BIN" evaluate --model-dir "$T/sft-aligned" --stage validation --users 50 --out "$T/val.json" --quiet
  grep -q '"corp": true' "$T/val.json" || fail "evaluate: CORP not recorded"
  run recommend_corp 0 "$BIN" recommend --model-dir "$T/sft-aligned" --user 3 --k 3 --no-corp
  grep -q 'path: c[0-9]:[0-9]* \[' "$T/recommend_corp.out" || fail "recommend reg4rec: no path with categories"

  # MMQ: REG4Rec-SFT whose MPQ has a text and a behaviour expert beside two shared ones.
  run train_mmq 0 "$BIN" train --model reg4rec-sft --data "$TINY" --out "$T/mmq" --modal-experts 1 "${SMALL[@]}"
  run evaluate_mmq 0 "$BIN" evaluate --model-dir "$T/mmq" --stage validation --users 50 --out "$T/mmq_val.json" --quiet
  grep -q '"recall@10"' "$T/mmq_val.json" || fail "evaluate of an MMQ model: no metrics"

  # MPQ tokens with a dedup token instead of moved items: a fixed last step, shown as such.
  run train_dedup 0 "$BIN" train --model reg4rec-sft --data "$TINY" --out "$T/dedup" --mpq-dedup 1 "${SMALL[@]}"
  run recommend_dedup 0 "$BIN" recommend --model-dir "$T/dedup" --user 3 --k 3
  grep -q -- '-> c4:[0-9]* (dedup)$' "$T/recommend_dedup.out" || fail "recommend --mpq-dedup model: the dedup token is not last"

  # The CRSS ablation: codebooks in index order, kept by align (which refuses to change it).
  run train_fixed 0 "$BIN" train --model reg4rec-sft --data "$TINY" --out "$T/fixed" --fixed-order 1 "${SMALL[@]}"
  grep -q '"order": "fixed"' "$T/fixed/manifest.json" || fail "train --fixed-order 1: the manifest does not say fixed"
  run align_fixed 0 "$BIN" align --model-dir "$T/fixed" --pars-epochs 1 --pars-users 64 --pars-paths 4 --eval-users 20 \
    --beam 5 --quiet
  grep -q '"order": "fixed"' "$T/fixed-aligned/manifest.json" || fail "align of a fixed-order model: order not kept"
  for f in "$T/fixed/manifest.json" "$T/fixed-aligned/manifest.json"; do
    grep -q '"features": "\[text ; behaviour 128 wide\]' "$f" || fail "$f does not name the tokenizer's features"
  done
  bad align_order 2 "--fixed-order and --confidence are the saved model's choice" "$BIN" align --model-dir "$T/fixed" \
    --out "$T/never" --fixed-order 0 --quiet
  # CRSS with another confidence measure: recorded, and decoded with by evaluate.
  run train_margin 0 "$BIN" train --model reg4rec-sft --data "$TINY" --out "$T/margin" --confidence margin "${SMALL[@]}"
  grep -q '"confidence": "margin"' "$T/margin/manifest.json" || fail "train --confidence margin: not in the manifest"
  run evaluate_margin 0 "$BIN" evaluate --model-dir "$T/margin" --stage validation --users 50 --quiet
  bad confidence_name 2 "unknown CRSS confidence measure 'surest'" "$BIN" train --model reg4rec-sft --data "$TINY" \
    --out "$T/never" --confidence surest "${SMALL[@]}"
  bad confidence_fixed 2 "--fixed-order 1 turns CRSS off" "$BIN" train --model reg4rec --data "$TINY" \
    --out "$T/never" --confidence margin --fixed-order 1 "${SMALL[@]}"
  # The full model's settings: codebook order, input dropout 0.3, smoothed features and the
  # reflection head unless asked otherwise; a --confidence measure asks for CRSS.
  run train_full 0 "$BIN" train --model reg4rec --data "$TINY" --out "$T/full" --pars-epochs 1 --pars-users 64 \
    --pars-paths 4 "${SMALL[@]}"
  for want in '"order": "fixed"' '"embedding_dropout": 0.3' 'graph-smoothed 1 hop' '"reflection_item_vectors": true'; do
    grep -q "$want" "$T/full/manifest.json" || fail "train --model reg4rec: the manifest lacks $want"
  done
  run train_full_crss 0 "$BIN" train --model reg4rec --data "$TINY" --out "$T/full_crss" --confidence margin \
    --embedding-dropout 0 --smooth-hops 0 --pars-epochs 1 --pars-users 64 --pars-paths 4 "${SMALL[@]}"
  for want in '"order": "confidence"' '"confidence": "margin"' '"embedding_dropout": 0,'; do
    grep -q "$want" "$T/full_crss/manifest.json" || fail "train --model reg4rec --confidence margin: the manifest lacks $want"
  done
  ! grep -q 'graph-smoothed' "$T/full_crss/manifest.json" || fail "train --model reg4rec --smooth-hops 0: smoothed anyway"

  # The ablation runner: five variants from one supervised model, as a table and as JSON.
  # The reflection head (on by default) gets a row of its own; without it five rows.
  run ablation_tiny 0 "$BIN" ablation --data "$TINY" --out "$T/ablation" --pars-users 64 --pars-paths 4 "${SMALL[@]}"
  [[ $(grep -o '"variant"' "$T/ablation/ablation.json" | wc -l) -eq 6 ]] || fail "ablation.json does not hold 6 variants"
  grep -q '^| full (PARS + MSRA + CORP) |' "$T/ablation_tiny.out" || fail "ablation: no full-model row in the table"
  grep -q '^| + reflection score |' "$T/ablation_tiny.out" || fail "ablation: no reflection row"
  run ablation_plain 0 "$BIN" ablation --data "$TINY" --out "$T/ablation_plain" --pars-users 64 --pars-paths 4 \
    --reflection 0 "${SMALL[@]}"
  [[ $(grep -o '"variant"' "$T/ablation_plain/ablation.json" | wc -l) -eq 5 ]] || fail "ablation --reflection 0: not 5 variants"

  # SASRec: train, evaluate, recommend.
  run train_sasrec 0 "$BIN" train --model sasrec --data "$TINY" --out "$T/sasrec" --epochs 1 --d-model 16 --quiet
  [[ -f "$T/sasrec/network.r4r" ]] || fail "sasrec folder lacks network.r4r"
  run evaluate_sasrec 0 "$BIN" evaluate --model-dir "$T/sasrec" --quiet
  run recommend_sasrec 0 "$BIN" recommend --model-dir "$T/sasrec" --history "1 2 3" --k 4

  # A small pipeline: per-model files, metrics.json with every model, the HTML report.
  run pipeline_tiny 0 "$BIN" pipeline --data "$TINY" --model sasrec,tiger --out "$T/pipe" --features "$T/features.npy" \
    --eval-every 1 --save-models "${SMALL[@]}"
  has_keys "$T/pipe/metrics.json" model dataset split users recall@5 recall@10 ndcg@5 ndcg@10 mrr train_seconds models
  grep -q '"model": "tiger"' "$T/pipe/metrics.json" || fail "pipeline metrics.json: headline is not the last model"
  for m in sasrec tiger; do has_keys "$T/pipe/$m/metrics.json" model recall@10; done
  [[ -f "$T/pipe/tiger/model/manifest.json" ]] || fail "pipeline --save-models: no tiger model folder"
  grep -q '<svg' "$T/pipe/report.html" || fail "report.html has no SVG plot"
  grep -q 'Training loss per epoch' "$T/pipe/report.html" || fail "report.html lacks the loss plot"
  grep -q 'Codebook utilisation' "$T/pipe/report.html" || fail "report.html lacks codebook utilisation"
  grep -qi '<script' "$T/pipe/report.html" && fail "report.html contains a script"
  no_partial_files
  ;;
*)
  echo "unknown mode $MODE"
  exit 2
  ;;
esac

if [[ $FAILS -gt 0 ]]; then
  echo "$FAILS check(s) failed"
  exit 1
fi
echo "all $MODE checks passed"
