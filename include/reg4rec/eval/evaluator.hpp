// Full-ranking evaluation of a model on the validation or test cases of a leave-one-out split.
//
//   eval::evaluator_options o;  o.model_name = "sasrec";  o.log = &std::clog;
//   eval::eval_result r = eval::evaluate(model, split, data::stage::test, o);
//   std::cout << eval::markdown_table(r);  r.save_json("metrics.json");
//
// Users are cut into batches of batch_size in split order; each batch is handed to the model
// (see eval_batch.hpp for the two model concepts) and every user's target rank is recorded:
//   - score-based: pessimistic rank among all items (eval/metrics.hpp); with mask_history
//     every item of the user's untruncated history other than the target is removed from the
//     candidates (it can never outrank the target);
//   - list-based: the target's position in the returned list, not found when absent; no
//     masking (the model decides what it recommends).
// Ranks are summed in user order after all batches are done, so results do not depend on
// the number of threads.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/progress.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/eval/eval_batch.hpp"
#include "reg4rec/eval/eval_result.hpp"
#include "reg4rec/eval/metrics.hpp"

namespace reg4rec::eval {

struct evaluator_options {
  std::vector<index_t> ks{5, 10};  ///< cutoffs of Recall@K and NDCG@K
  index_t batch_size = 256;        ///< users per call of the model
  /// Score-based models: remove the user's history items from the candidates.
  bool mask_history = true;
  /// List-based models: length of list asked for (0 = the largest K).
  index_t list_length = 0;
  /// Evaluate only max_users cases (0 = all), e.g. for a quick validation: evenly spaced over
  /// the split's order (case ⌊(2i + 1)·N / (2·max_users)⌋), since users early in a file need not be typical.
  index_t max_users = 0;
  /// Run batches on several threads (the model's const score/recommend must allow it).
  bool parallel = true;
  std::string model_name = "model";
  std::ostream* log = nullptr;  ///< progress (nullptr = quiet)
};

namespace detail {

inline std::string protocol_name(bool scores, bool masked) {
  return scores ? (masked ? "scores, history masked" : "scores, unmasked") : "ranked lists";
}

inline std::string progress_label(const evaluator_options& o, data::stage st) {
  return "evaluate " + o.model_name + " (" + data::to_string(st) + ")";
}

// Calls `rank_batch(batch, case_indices, ranks_out)` for every batch and folds the ranks.
template <class RankBatch>
eval_result run_batches(const data::leave_one_out_split& split, data::stage st, const evaluator_options& o,
                        bool scores, RankBatch&& rank_batch) {
  require(o.batch_size >= 1, "evaluate: batch_size must be >= 1, got ", o.batch_size);
  require(o.max_users >= 0, "evaluate: max_users must be >= 0, got ", o.max_users);
  metric_accumulator acc(o.ks);  // validates the cutoffs before any work
  const auto t0 = std::chrono::steady_clock::now();
  const index_t N = split.n_eval_users(), n = o.max_users > 0 ? std::min(o.max_users, N) : N;
  const index_t n_batches = (n + o.batch_size - 1) / o.batch_size;
  std::vector<index_t> ranks(static_cast<std::size_t>(n), not_found);

  progress prog(progress_label(o, st), n, o.log, "users");
  std::mutex prog_mutex;
  auto one_batch = [&](index_t b) {
    const index_t lo = b * o.batch_size, hi = std::min(n, lo + o.batch_size);
    eval_batch batch;
    std::vector<index_t> cases;
    batch.users.reserve(static_cast<std::size_t>(hi - lo));
    batch.histories.reserve(static_cast<std::size_t>(hi - lo));
    for (index_t i = lo; i < hi; ++i) {
      cases.push_back(n == N ? i : (2 * i + 1) * N / (2 * n));  // centred in its stretch
      const auto c = split.evaluation(st, cases.back());
      batch.users.push_back(c.user);
      batch.histories.push_back(c.history);
    }
    rank_batch(batch, cspan<index_t>(cases.data(), hi - lo), span<index_t>(ranks.data() + lo, hi - lo));
    std::lock_guard<std::mutex> lock(prog_mutex);
    prog.advance(hi - lo);
  };
  if (o.parallel) {
    parallel_for_dynamic(0, n_batches, 1, [&](index_t lo, index_t hi) {
      for (index_t b = lo; b < hi; ++b) one_batch(b);
    });
  } else {
    for (index_t b = 0; b < n_batches; ++b) one_batch(b);
  }

  for (index_t r : ranks) acc.add(r);
  eval_result res;
  res.model = o.model_name;
  res.stage = data::to_string(st);
  res.protocol = protocol_name(scores, scores && o.mask_history);
  res.users = acc.count();
  res.ks = o.ks;
  for (index_t k : o.ks) {
    res.recall.push_back(acc.recall(k));
    res.ndcg.push_back(acc.ndcg(k));
  }
  res.mrr = acc.mrr();
  res.ranks = std::move(ranks);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char note[96];
  std::snprintf(note, sizeof note, "R@%ld %.4f, N@%ld %.4f", long(o.ks.back()), res.recall.back(),
                long(o.ks.back()), res.ndcg.back());
  prog.finish(note);
  return res;
}

}  // namespace detail

/// Evaluates a score-based model: model.score(batch, scores) with scores (batch × n_items).
template <class Model>
eval_result evaluate_scores(const Model& model, const data::leave_one_out_split& split, data::stage st,
                            const evaluator_options& o = {}) {
  static_assert(is_score_model_v<Model>,
                "Model needs: void score(const eval_batch&, matrix_view<float>) const");
  const index_t n_items = split.n_items();
  return detail::run_batches(split, st, o, true, [&](const eval_batch& batch, cspan<index_t> cases, span<index_t> ranks) {
    auto& ws = thread_workspace();
    auto frame = ws.scope();
    matrix_view<float> scores = ws.take_matrix<float>(batch.size(), n_items);
    model.score(batch, scores);
    for (index_t b = 0; b < batch.size(); ++b) {
      const auto c = split.evaluation(st, cases[b]);
      ranks[b] = score_rank<float>(scores.row(b), c.target,
                                   o.mask_history ? c.full_history : cspan<std::int32_t>());
    }
  });
}

/// Evaluates a list-based model: model.recommend(batch, k, lists), lists of distinct items.
/// value_error when a list holds an item outside [0, n_items) or the same item twice.
template <class Model>
eval_result evaluate_lists(const Model& model, const data::leave_one_out_split& split, data::stage st,
                           const evaluator_options& o = {}) {
  static_assert(is_list_model_v<Model>,
                "Model needs: void recommend(const eval_batch&, index_t, std::vector<std::vector<int32_t>>&) const");
  require(!o.ks.empty(), "evaluate: no cutoff K given");
  const index_t k = o.list_length > 0 ? o.list_length : *std::max_element(o.ks.begin(), o.ks.end());
  const index_t n_items = split.n_items();
  return detail::run_batches(split, st, o, false, [&](const eval_batch& batch, cspan<index_t> cases, span<index_t> ranks) {
    std::vector<std::vector<std::int32_t>> lists;
    model.recommend(batch, k, lists);
    check_dim("evaluate: number of lists returned (batch size)", static_cast<index_t>(lists.size()), batch.size());
    std::vector<std::int32_t> sorted;
    for (index_t b = 0; b < batch.size(); ++b) {
      const auto& l = lists[static_cast<std::size_t>(b)];
      sorted.assign(l.begin(), l.end());
      std::sort(sorted.begin(), sorted.end());
      for (std::size_t i = 0; i < sorted.size(); ++i) {
        if (sorted[i] < 0 || sorted[i] >= n_items)
          throw value_error(reg4rec::detail::cat("evaluate: the list of user ", batch.users[b], " holds item ",
                                                 sorted[i], ", outside [0, ", n_items, ")"));
        if (i > 0 && sorted[i] == sorted[i - 1])
          throw value_error(reg4rec::detail::cat("evaluate: the list of user ", batch.users[b],
                                                 " holds item ", sorted[i], " twice"));
      }
      ranks[b] = list_rank(l, split.evaluation(st, cases[b]).target);
    }
  });
}

/// Evaluates any model: score-based when it has score(), list-based otherwise.
template <class Model>
eval_result evaluate(const Model& model, const data::leave_one_out_split& split, data::stage st,
                     const evaluator_options& o = {}) {
  if constexpr (is_score_model_v<Model>)
    return evaluate_scores(model, split, st, o);
  else if constexpr (is_list_model_v<Model>)
    return evaluate_lists(model, split, st, o);
  else
    static_assert(sizeof(Model) == 0, "Model has neither score() nor recommend(); see eval/eval_batch.hpp");
}

}  // namespace reg4rec::eval
