// reg4rec eval: full-ranking metrics (Recall@K, NDCG@K, MRR; pessimistic ties), the batch
// evaluator for score-based and list-based models, results as Markdown and JSON, and the
// most-popular baseline.
#pragma once

#include "reg4rec/core.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/eval/metrics.hpp"
#include "reg4rec/eval/eval_batch.hpp"
#include "reg4rec/eval/eval_result.hpp"
#include "reg4rec/eval/evaluator.hpp"
#include "reg4rec/eval/popularity.hpp"
