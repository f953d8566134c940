// GELU (tanh approximation), elementwise: forward y = gelu(x); backward dx = dy · gelu'(x)
// (dx is written, not accumulated). Spans of equal length; y may alias x, dx may alias dy.
#pragma once

#include "reg4rec/backend/scalar/gelu.hpp"
#include "reg4rec/backend/simd/gelu.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::kernels {

namespace detail {
inline constexpr index_t elementwise_grain = 1 << 15;
}

template <class T, class Backend>
void gelu_forward(Backend be, cspan<nodeduce<T>> x, span<T> y) {
  check_dim("gelu_forward: length of y", y.size(), x.size());
  parallel_for(0, x.size(), detail::elementwise_grain, [&](index_t lo, index_t hi) {
    backend::gelu_forward(be, x.data() + lo, y.data() + lo, hi - lo);
  });
}
template <class T>
void gelu_forward(cspan<nodeduce<T>> x, span<T> y) {
  gelu_forward<T>(default_backend{}, x, y);
}

template <class T, class Backend>
void gelu_backward(Backend be, cspan<nodeduce<T>> x, cspan<nodeduce<T>> dy, span<T> dx) {
  check_dim("gelu_backward: length of dy", dy.size(), x.size());
  check_dim("gelu_backward: length of dx", dx.size(), x.size());
  parallel_for(0, x.size(), detail::elementwise_grain, [&](index_t lo, index_t hi) {
    backend::gelu_backward(be, x.data() + lo, dy.data() + lo, dx.data() + lo, hi - lo);
  });
}
template <class T>
void gelu_backward(cspan<nodeduce<T>> x, cspan<nodeduce<T>> dy, span<T> dx) {
  gelu_backward<T>(default_backend{}, x, dy, dx);
}

}  // namespace reg4rec::kernels
