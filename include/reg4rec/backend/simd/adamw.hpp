// AdamW over a flat buffer with xsimd. Same update as backend/scalar/adamw.hpp; memory bound
// (7 streams of 4 bytes per parameter), so the point is to keep every stream one pass.
#pragma once

#include "reg4rec/backend/scalar/adamw.hpp"
#include "reg4rec/backend/simd/common.hpp"

namespace reg4rec::backend {

template <class T, class A>
void adamw_update(simd<A>, T* p, const T* g, T* m, T* v, index_t n, const adamw_hparams& h) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const adamw_detail::coefficients c(h);
  const batch b1(T(h.beta1)), b2(T(h.beta2)), c1(T(1 - h.beta1)), c2(T(1 - h.beta2));
  const batch eps(T(h.eps)), decay(T(c.decay)), a(T(c.a)), b(T(c.b));
  const index_t nv = n / W * W;
  for (index_t i = 0; i < nv; i += W) {
    const batch gi = batch::load_unaligned(g + i);
    const batch mi = xsimd::fma(b1, batch::load_unaligned(m + i), c1 * gi);
    const batch vi = xsimd::fma(b2, batch::load_unaligned(v + i), c2 * gi * gi);
    mi.store_unaligned(m + i);
    vi.store_unaligned(v + i);
    const batch pi = batch::load_unaligned(p + i);
    (pi * decay - a * mi / xsimd::fma(xsimd::sqrt(vi), b, eps)).store_unaligned(p + i);
  }
  adamw_update(scalar{}, p + nv, g + nv, m + nv, v + nv, n - nv, h);
}

}  // namespace reg4rec::backend
