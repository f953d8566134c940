// AdamW over a flat buffer, scalar reference (Loshchilov & Hutter; PyTorch's AdamW order):
//   p ← p − lr·wd·p;  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
//   p ← p − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + eps)
#pragma once

#include <cmath>

#include "reg4rec/backend/adamw_hparams.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec {
namespace backend {

template <class T>
void adamw_update(scalar, T* p, const T* g, T* m, T* v, index_t n, const adamw_hparams& h) {
  const adamw_detail::coefficients c(h);
  // 1 − β is formed in double: in float, 1 − 0.999f is off by 1e-5 relative.
  const T b1 = T(h.beta1), b2 = T(h.beta2), c1 = T(1 - h.beta1), c2 = T(1 - h.beta2);
  const T eps = T(h.eps), decay = T(c.decay), a = T(c.a), b = T(c.b);
  for (index_t i = 0; i < n; ++i) {
    const T gi = g[i];
    const T mi = b1 * m[i] + c1 * gi;
    const T vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - a * mi / (std::sqrt(vi) * b + eps);
  }
}

}  // namespace backend
}  // namespace reg4rec
