// GELU, tanh approximation (as GPT-2, llm.c and PyTorch's approximate="tanh"), scalar reference:
//   gelu(x) = ½·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³)
//   gelu'(x) = ½·(1 + tanh(u)) + ½·x·(1 − tanh²(u))·√(2/π)·(1 + 3·0.044715·x²)
#pragma once

#include <cmath>

#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

namespace gelu_constants {
inline constexpr double k0 = 0.7978845608028654;  // √(2/π)
inline constexpr double k1 = 0.044715;
}  // namespace gelu_constants

template <class T>
void gelu_forward(scalar, const T* x, T* y, index_t n) {
  const T k0 = T(gelu_constants::k0), k1 = T(gelu_constants::k1);
  for (index_t i = 0; i < n; ++i) {
    const T v = x[i];
    y[i] = T(0.5) * v * (T(1) + std::tanh(k0 * (v + k1 * v * v * v)));
  }
}

/// dx = dy · gelu'(x) (written, not accumulated).
template <class T>
void gelu_backward(scalar, const T* x, const T* dy, T* dx, index_t n) {
  const T k0 = T(gelu_constants::k0), k1 = T(gelu_constants::k1);
  for (index_t i = 0; i < n; ++i) {
    const T v = x[i];
    const T t = std::tanh(k0 * (v + k1 * v * v * v));
    const T grad = T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * k0 * (T(1) + T(3) * k1 * v * v);
    dx[i] = dy[i] * grad;
  }
}

}  // namespace reg4rec::backend
