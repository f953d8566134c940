// MSRA — multi-step reward augmentation (SPEC §4.6): a path is scored against the target and
// the next N − 1 items the user went on to consume, with time-decay weights w_n = γ^{n−1}:
//   R = Σ_{n=1..N} w_n · R(path, item_{t+n−1}) / Σ_n w_n   over the items that exist.
// Only training data may be passed as `future` (never validation or test targets).
#pragma once

#include <cmath>

#include "reg4rec/align/rewards.hpp"

namespace reg4rec::align {

template <class Reward = composite_reward>
class msra {
 public:
  msra(Reward r, index_t steps = 3, double gamma = 0.7) : reward_(std::move(r)), steps_(steps), gamma_(gamma) {
    require(steps >= 1, "msra: the number of steps N must be at least 1, got ", steps);
    require(gamma > 0 && gamma <= 1, "msra: the decay γ must lie in (0, 1], got ", gamma);
  }

  index_t steps() const noexcept { return steps_; }
  double gamma() const noexcept { return gamma_; }
  /// w_n for n = 1..N.
  double weight(index_t n) const { return std::pow(gamma_, double(n - 1)); }

  /// targets: the target first, then the items that followed it (at most N are used).
  double operator()(cspan<path_token> path, cspan<std::int32_t> targets, const reward_context& ctx) const {
    require(!targets.empty(), "msra: no target");
    double num = 0, den = 0;
    for (index_t n = 1; n <= std::min(steps_, targets.size()); ++n) {
      num += weight(n) * reward_(path, targets[n - 1], ctx);
      den += weight(n);
    }
    return num / den;
  }

  const Reward& reward() const noexcept { return reward_; }

 private:
  Reward reward_;
  index_t steps_;
  double gamma_;
};

}  // namespace reg4rec::align
