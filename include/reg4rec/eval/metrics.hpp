// Ranking metrics with one relevant item per user (leave-one-out), full ranking over all items.
//
// The rank of the target is 0-based (0 = first). From it, per user:
//   Recall@K = HR@K = [rank < K]
//   NDCG@K   = [rank < K] / log2(rank + 2)       (the ideal DCG is 1: one relevant item)
//   MRR      = 1 / (rank + 1), 0 when the target is not ranked at all
// and the reported value is the mean over evaluated users.
//
// Ties are pessimistic: the target is placed after every other candidate with an equal score,
// so a model that scores everything equally ranks the target last, not first. NaN scores
// rank below everything (a NaN target ties with every other NaN and loses to every number).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"

namespace reg4rec::eval {

/// Rank of a target that a ranked list does not contain.
inline constexpr index_t not_found = -1;

/// The NDCG gain of a hit at 0-based rank r: 1 / log2(r + 2).
inline double dcg_gain(index_t rank) noexcept { return 1.0 / std::log2(double(rank) + 2.0); }

/// Pessimistic 0-based rank of `target` among the items of a score row: the number of other
/// candidates whose score is higher or equal. Items listed in `excluded` (duplicates and the
/// target itself allowed; the target is never excluded) are not candidates: they can never
/// outrank the target. scores: (n_items).
template <class T>
index_t score_rank(cspan<T> scores, std::int32_t target, cspan<std::int32_t> excluded = {}) {
  const index_t n = scores.size();
  require(target >= 0 && target < n, "score_rank: target ", target, " outside [0, ", n, ")");
  const T st = scores[target];
  const T* s = scores.data();
  auto counted = [&](index_t j) { return std::isnan(st) || s[j] >= st; };
  index_t rank;
  if (std::isnan(st)) {
    rank = n - 1;
  } else {
    index_t c = 0;
    for (index_t j = 0; j < n; ++j) c += s[j] >= st;  // NaN compares false: never counted
    rank = c - 1;                                       // the target itself
  }
  if (excluded.empty()) return rank;
  // Remove each distinct excluded candidate that was counted.
  auto& ws = thread_workspace();
  auto frame = ws.scope();
  span<std::int32_t> ex = ws.take<std::int32_t>(excluded.size());
  std::copy(excluded.begin(), excluded.end(), ex.begin());
  std::sort(ex.begin(), ex.end());
  const auto last = std::unique(ex.begin(), ex.end());
  for (auto it = ex.begin(); it != last; ++it) {
    const std::int32_t j = *it;
    require(j >= 0 && j < n, "score_rank: excluded item ", j, " outside [0, ", n, ")");
    if (j != target && counted(j)) --rank;
  }
  return rank;
}

/// 0-based position of `target` in a ranked list of distinct items, or not_found.
inline index_t list_rank(cspan<std::int32_t> ranked, std::int32_t target) noexcept {
  for (index_t i = 0; i < ranked.size(); ++i)
    if (ranked[i] == target) return i;
  return not_found;
}

/// Sums of the per-user metrics for a set of cutoffs; add ranks, read means.
class metric_accumulator {
 public:
  explicit metric_accumulator(std::vector<index_t> ks = {5, 10}) : ks_(std::move(ks)) {
    require(!ks_.empty(), "metric_accumulator: no cutoff K given");
    for (index_t k : ks_) require(k >= 1, "metric_accumulator: cutoffs must be >= 1, got ", k);
    hits_.assign(ks_.size(), 0.0);
    dcg_.assign(ks_.size(), 0.0);
  }

  /// One user's target rank (0-based, or not_found).
  void add(index_t rank) {
    require(rank >= 0 || rank == not_found, "metric_accumulator: invalid rank ", rank);
    ++n_;
    if (rank == not_found) return;
    for (std::size_t i = 0; i < ks_.size(); ++i)
      if (rank < ks_[i]) {
        hits_[i] += 1.0;
        dcg_[i] += dcg_gain(rank);
      }
    rr_ += 1.0 / double(rank + 1);
  }

  const std::vector<index_t>& ks() const noexcept { return ks_; }
  index_t count() const noexcept { return n_; }
  double recall(index_t k) const { return mean(hits_[slot(k)]); }
  double ndcg(index_t k) const { return mean(dcg_[slot(k)]); }
  double mrr() const noexcept { return mean(rr_); }

 private:
  std::size_t slot(index_t k) const {
    const auto it = std::find(ks_.begin(), ks_.end(), k);
    require(it != ks_.end(), "metric_accumulator: cutoff ", k, " was not requested");
    return static_cast<std::size_t>(it - ks_.begin());
  }
  double mean(double sum) const noexcept { return n_ > 0 ? sum / double(n_) : 0.0; }

  std::vector<index_t> ks_;
  std::vector<double> hits_, dcg_;
  double rr_ = 0;
  index_t n_ = 0;
};

}  // namespace reg4rec::eval
