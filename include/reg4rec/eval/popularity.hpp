// Most-popular baseline: every user gets the same scores, the number of times each item was
// interacted with in the data the model may learn from.
//
// popularity::fit(split, stage) counts the interactions split.visible(stage, u) of every user:
//   - for the validation stage: the training sequences (all but the last two items of each
//     user; the whole sequence of users with fewer than 3 items);
//   - for the test stage: the same plus each user's validation target, i.e. every interaction
//     except the test targets — exactly the histories the test cases show to models.
// A stage's own targets are never counted.
//
// Reference protocol (SPEC §1 sanity figures, docs/evaluation.md): on Beauty, test stage,
// scores unmasked (evaluator_options::mask_history = false), pessimistic ties:
// R@10 = 0.0114, N@10 = 0.0054 (22,363 users). Masking the history instead gives R@10 0.0130.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/eval/eval_batch.hpp"

namespace reg4rec::eval {

class popularity {
 public:
  /// counts: (n_items) interaction counts (any non-negative weights).
  explicit popularity(std::vector<double> counts) : counts_(std::move(counts)) {
    for (std::size_t i = 0; i < counts_.size(); ++i)
      if (!(counts_[i] >= 0))
        throw value_error(reg4rec::detail::cat("popularity: count of item ", i, " is ", counts_[i],
                                               " (must be a non-negative number)"));
    order_.resize(counts_.size());
    std::iota(order_.begin(), order_.end(), 0);
    // Most popular first; equal counts by item index (only matters for ranked lists).
    std::stable_sort(order_.begin(), order_.end(),
                     [&](std::int32_t a, std::int32_t b) { return counts_[a] > counts_[b]; });
  }

  /// Counts of the interactions visible before evaluating on `st` (see the file comment).
  static popularity fit(const data::leave_one_out_split& split, data::stage st) {
    std::vector<double> c(static_cast<std::size_t>(split.n_items()), 0.0);
    for (index_t u = 0; u < split.n_users(); ++u)
      for (std::int32_t i : split.visible(st, u)) c[static_cast<std::size_t>(i)] += 1.0;
    return popularity(std::move(c));
  }

  index_t n_items() const noexcept { return static_cast<index_t>(counts_.size()); }
  const std::vector<double>& counts() const noexcept { return counts_; }

  /// Score-based use: scores(b, i) = count of item i for every user. scores: (batch × n_items).
  void score(const eval_batch& batch, matrix_view<float> scores) const {
    check_dim("popularity::score: rows of scores (batch size)", scores.rows(), batch.size());
    check_dim("popularity::score: columns of scores (n_items)", scores.cols(), n_items());
    for (index_t b = 0; b < scores.rows(); ++b) {
      float* r = scores.row_ptr(b);
      for (index_t i = 0; i < n_items(); ++i) r[i] = static_cast<float>(counts_[static_cast<std::size_t>(i)]);
    }
  }

  /// List-based use: the k most popular items (equal counts by item index), the same for
  /// every user, history included.
  void recommend(const eval_batch& batch, index_t k, std::vector<std::vector<std::int32_t>>& lists) const {
    require(k >= 0, "popularity::recommend: k must be >= 0, got ", k);
    k = std::min(k, n_items());
    lists.assign(static_cast<std::size_t>(batch.size()), std::vector<std::int32_t>(order_.begin(), order_.begin() + k));
  }

 private:
  std::vector<double> counts_;
  std::vector<std::int32_t> order_;
};

}  // namespace reg4rec::eval
