// Pieces shared by the training loops: per-epoch records, validation scores, and early
// stopping that keeps the best weights.
#pragma once

#include <vector>

#include "reg4rec/core/types.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::model {

struct epoch_record {
  index_t epoch = 0;
  double loss = 0, metric = -1, ndcg = -1, seconds = 0, tokens_per_second = 0;
  bool best = false;
};

struct train_history {
  std::vector<epoch_record> epochs;
  index_t best_epoch = -1;
  double best_metric = -1;
  double seconds = 0;
  bool stopped_early = false;
  index_t skipped_steps = 0;  // steps dropped for a non-finite loss or gradient (nonfinite_policy::skip)
};

/// A validation result: the early-stopping metric (higher is better) and one reported beside it.
struct validation_score {
  double metric = 0, secondary = 0;
};

/// Early stopping on a validation metric with patience, keeping a copy of the best weights.
template <class T>
class early_stopping {
 public:
  explicit early_stopping(index_t patience) : patience_(patience) {}

  /// Records a validation; returns true when it is the best so far (weights copied).
  bool update(index_t epoch, double metric, const nn::parameter_store<T>& ps) {
    if (metric > best_metric_) {
      best_metric_ = metric;
      best_epoch_ = epoch;
      bad_ = 0;
      best_.assign(ps.values().begin(), ps.values().end());
      return true;
    }
    ++bad_;
    return false;
  }
  bool should_stop() const noexcept { return patience_ > 0 && bad_ >= patience_; }
  /// Puts the best weights back (no-op when no validation happened).
  void restore(nn::parameter_store<T>& ps) const {
    if (!best_.empty()) std::copy(best_.begin(), best_.end(), ps.values().begin());
  }

  double best_metric() const noexcept { return best_metric_; }
  index_t best_epoch() const noexcept { return best_epoch_; }
  index_t bad() const noexcept { return bad_; }
  /// State for checkpoints: (best epoch, validations without improvement, best metric).
  void set_state(index_t best_epoch, index_t bad, double best_metric, const nn::parameter_store<T>* best) {
    best_epoch_ = best_epoch;
    bad_ = bad;
    best_metric_ = best_metric;
    if (best) best_.assign(best->values().begin(), best->values().end());
  }

 private:
  index_t patience_;
  double best_metric_ = -1;
  index_t best_epoch_ = -1, bad_ = 0;
  aligned_vector<T> best_;
};

}  // namespace reg4rec::model
