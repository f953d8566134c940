// An exponential moving average of a model's weights (Polyak–Ruppert averaging with a decay):
// after every optimizer step a ← d_t·a + (1 − d_t)·w, with d_t = min(d, (1 + t)/(10 + t)) at
// update t = 0, 1, … so the first updates do not drag the average towards the initial weights.
// Validating and keeping the average instead of the last weights smooths the noise of the last
// steps; training still updates the raw weights.
#pragma once

#include <algorithm>

#include "reg4rec/core/error.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::optim {

template <class T>
class weight_average {
 public:
  weight_average() = default;
  /// Starts the average at the current weights of `ps`; decay d ∈ [0, 1).
  weight_average(const nn::parameter_store<T>& ps, double decay) : decay_(decay) {
    require(decay >= 0 && decay < 1, "weight_average: decay must lie in [0, 1), got ", decay);
    avg_.assign(ps.values().begin(), ps.values().end());
  }

  /// Folds the current weights into the average.
  void update(const nn::parameter_store<T>& ps) {
    check_dim("weight_average::update: parameter count", ps.size(), static_cast<index_t>(avg_.size()));
    const double d = std::min(decay_, double(1 + updates_) / double(10 + updates_));
    const T a = static_cast<T>(d), b = static_cast<T>(1 - d);
    const T* w = ps.values().data();
    T* s = avg_.data();
    const std::size_t n = avg_.size();
    for (std::size_t i = 0; i < n; ++i) s[i] = a * s[i] + b * w[i];
    ++updates_;
  }

  /// Exchanges the average with the weights of `ps` (call twice to undo).
  void swap(nn::parameter_store<T>& ps) {
    check_dim("weight_average::swap: parameter count", ps.size(), static_cast<index_t>(avg_.size()));
    std::swap_ranges(avg_.begin(), avg_.end(), ps.values().begin());
  }

  span<const T> values() const noexcept { return span<const T>(avg_.data(), static_cast<index_t>(avg_.size())); }
  span<T> values() noexcept { return span<T>(avg_.data(), static_cast<index_t>(avg_.size())); }
  long long updates() const noexcept { return updates_; }
  void set_updates(long long t) noexcept { updates_ = t; }
  double decay() const noexcept { return decay_; }

 private:
  aligned_vector<T> avg_;
  double decay_ = 0;
  long long updates_ = 0;
};

}  // namespace reg4rec::optim
