// Learning-rate schedules: linear warm-up, then constant, cosine or linear decay to
// min_ratio·base_lr at total_steps.
#pragma once

#include <algorithm>
#include <cmath>

#include "reg4rec/core/error.hpp"

namespace reg4rec::optim {

struct lr_schedule {
  enum class decay { constant, cosine, linear };

  double base_lr = 1e-3;
  long long warmup_steps = 0;
  long long total_steps = 0;  // needed by cosine and linear decay
  decay kind = decay::cosine;
  double min_ratio = 0.0;

  /// Learning rate for 0-based step `step`.
  double operator()(long long step) const {
    require(base_lr >= 0, "lr_schedule: base_lr must be non-negative");
    if (warmup_steps > 0 && step < warmup_steps) return base_lr * double(step + 1) / double(warmup_steps);
    if (kind == decay::constant) return base_lr;
    require(total_steps > warmup_steps, "lr_schedule: total_steps (", total_steps,
            ") must exceed warmup_steps (", warmup_steps, ") for a decaying schedule");
    const double t = std::clamp(double(step - warmup_steps) / double(total_steps - warmup_steps), 0.0, 1.0);
    const double f = kind == decay::cosine ? 0.5 * (1.0 + std::cos(3.141592653589793 * t)) : 1.0 - t;
    return base_lr * (min_ratio + (1.0 - min_ratio) * f);
  }
};

}  // namespace reg4rec::optim
