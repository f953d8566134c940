// Row softmax and log-softmax, scalar reference. Stable form: subtract the row maximum.
// NaN in a row makes the whole output row NaN; a row of -inf gives NaN (0/0), as in PyTorch.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

/// y_i = exp(x_i − max) / Σ exp(x_j − max), or its log when `log` is true. y may alias x.
template <class T>
void softmax_row(scalar, const T* x, T* y, index_t m, bool log) {
  T mx = -std::numeric_limits<T>::infinity();
  bool nan = false;
  for (index_t j = 0; j < m; ++j) {
    nan |= std::isnan(x[j]);
    mx = std::max(mx, x[j]);
  }
  if (nan) {
    std::fill(y, y + m, std::numeric_limits<T>::quiet_NaN());
    return;
  }
  T sum = 0;
  for (index_t j = 0; j < m; ++j) sum += std::exp(x[j] - mx);
  if (log) {
    // (x − max) − log Σ: subtracting max first keeps the digits that x − (max + log Σ)
    // would lose when |max| is large.
    const T log_sum = std::log(sum);
    for (index_t j = 0; j < m; ++j) y[j] = (x[j] - mx) - log_sum;
  } else {
    const T inv = T(1) / sum;
    for (index_t j = 0; j < m; ++j) y[j] = std::exp(x[j] - mx) * inv;
  }
}

/// Fused softmax + cross-entropy of one row of logits x[0..m) against `target`, with label
/// smoothing ε (target distribution q = (1 − ε)·onehot + ε/m). Returns −Σ q_j log p_j and
/// overwrites x with scale·(p − q), the gradient of scale·loss.
template <class T>
T softmax_xent_row(scalar, T* x, index_t m, index_t target, T smoothing, T scale) {
  T mx = -std::numeric_limits<T>::infinity();
  for (index_t j = 0; j < m; ++j) mx = std::max(mx, x[j]);
  T sum = 0, sum_x = 0;
  for (index_t j = 0; j < m; ++j) {
    sum += std::exp(x[j] - mx);
    sum_x += x[j] - mx;
  }
  const T log_sum = std::log(sum);
  const T logp_t = (x[target] - mx) - log_sum;
  // Σ_j log p_j = Σ_j (x_j − max) − m·log Σ.
  const T loss = -(T(1) - smoothing) * logp_t - smoothing / T(m) * (sum_x - T(m) * log_sum);
  const T inv = T(1) / sum, uniform = smoothing / T(m);
  for (index_t j = 0; j < m; ++j) x[j] = scale * (std::exp(x[j] - mx) * inv - uniform);
  x[target] -= scale * (T(1) - smoothing);
  return loss;
}

}  // namespace reg4rec::backend
