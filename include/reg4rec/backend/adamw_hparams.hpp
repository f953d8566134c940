// Hyper-parameters of an AdamW update, shared by every backend (plain C++, no dependencies,
// so that the CUDA add-on's nvcc translation unit can include it).
#pragma once

#include <cmath>

namespace reg4rec {

/// Hyper-parameters of one AdamW update. `step` is 1 for the first update.
struct adamw_hparams {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  long long step = 1;
};

namespace backend::adamw_detail {
// Folds weight decay and the bias corrections into three constants:
// p ← p·decay − a·m / (sqrt(v)·b + eps), decay = 1 − lr·wd, a = lr/(1 − β1^t), b = 1/sqrt(1 − β2^t).
struct coefficients {
  double decay, a, b;
  explicit coefficients(const adamw_hparams& h)
      : decay(1.0 - h.lr * h.weight_decay),
        a(h.lr / (1.0 - std::pow(h.beta1, static_cast<double>(h.step)))),
        b(1.0 / std::sqrt(1.0 - std::pow(h.beta2, static_cast<double>(h.step)))) {}
};
}  // namespace backend::adamw_detail

}  // namespace reg4rec
