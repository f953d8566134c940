// GELU (tanh approximation) with xsimd. Same formulas as backend/scalar/gelu.hpp.
#pragma once

#include <cmath>

#include "reg4rec/backend/scalar/gelu.hpp"
#include "reg4rec/backend/simd/common.hpp"

namespace reg4rec::backend {

template <class T, class A>
void gelu_forward(simd<A>, const T* x, T* y, index_t n) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const batch k0(static_cast<T>(gelu_constants::k0)), k1(static_cast<T>(gelu_constants::k1)), half(T(0.5)), one(T(1));
  const index_t nv = n / W * W;
  for (index_t i = 0; i < nv; i += W) {
    const batch v = batch::load_unaligned(x + i);
    const batch u = k0 * xsimd::fma(k1 * v * v, v, v);
    (half * v * (one + xsimd::tanh(u))).store_unaligned(y + i);
  }
  gelu_forward(scalar{}, x + nv, y + nv, n - nv);
}

template <class T, class A>
void gelu_backward(simd<A>, const T* x, const T* dy, T* dx, index_t n) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const batch k0(static_cast<T>(gelu_constants::k0)), k1(static_cast<T>(gelu_constants::k1)),
      k13(static_cast<T>(3 * gelu_constants::k1));
  const batch half(T(0.5)), one(T(1));
  const index_t nv = n / W * W;
  for (index_t i = 0; i < nv; i += W) {
    const batch v = batch::load_unaligned(x + i);
    const batch v2 = v * v;
    const batch t = xsimd::tanh(k0 * xsimd::fma(k1 * v2, v, v));
    const batch grad =
        half * (one + t) + half * v * (one - t * t) * k0 * xsimd::fma(k13, v2, one);
    (batch::load_unaligned(dy + i) * grad).store_unaligned(dx + i);
  }
  gelu_backward(scalar{}, x + nv, dy + nv, dx + nv, n - nv);
}

}  // namespace reg4rec::backend
