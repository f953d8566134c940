// Gradient norms and global-norm clipping, with the numerical guard: a non-finite gradient
// is reported with the name of the parameter it appeared in.
#pragma once

#include <cmath>
#include <string>

#include "reg4rec/core/error.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::optim {

/// The L2 norm of all gradients; throws numerical_error naming the first parameter whose
/// gradient is NaN or Inf.
template <class T>
double grad_norm(const nn::parameter_store<T>& ps) {
  double total = 0;
  const auto g = ps.grads();
  for (const auto& e : ps.entries()) {
    double s = 0;
    const T* p = g.data() + e.offset;
    for (index_t i = 0; i < e.rows * e.cols; ++i) s += double(p[i]) * double(p[i]);
    if (!std::isfinite(s)) throw numerical_error("non-finite gradient in parameter '" + e.name + "'");
    total += s;
  }
  return std::sqrt(total);
}

/// Scales all gradients so their global norm is at most max_norm; returns the norm before.
template <class T>
double clip_grad_norm(nn::parameter_store<T>& ps, double max_norm) {
  require(max_norm > 0, "clip_grad_norm: max_norm must be positive, got ", max_norm);
  const double norm = grad_norm(ps);
  if (norm > max_norm) {
    const T scale = T(max_norm / (norm + 1e-12));
    for (auto& x : ps.grads()) x *= scale;
  }
  return norm;
}

}  // namespace reg4rec::optim
