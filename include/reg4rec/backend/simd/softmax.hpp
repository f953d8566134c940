// Row softmax and log-softmax with xsimd. Same contract as backend/scalar/softmax.hpp.
// Three passes over a row (max; exp and sum; scale), each W lanes at a time, the tail scalar.
#pragma once

#include <cmath>
#include <limits>

#include "reg4rec/backend/simd/common.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

template <class T, class A>
void softmax_row(simd<A>, const T* x, T* y, index_t m, bool log) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const index_t mv = m / W * W;
  batch vmax(-std::numeric_limits<T>::infinity());
  auto vnan = vmax != vmax;
  for (index_t j = 0; j < mv; j += W) {
    const batch v = batch::load_unaligned(x + j);
    vnan = vnan || (v != v);
    vmax = xsimd::max(vmax, v);
  }
  T mx = simd_detail::hmax(vmax);
  bool nan = xsimd::any(vnan);
  for (index_t j = mv; j < m; ++j) {
    nan |= std::isnan(x[j]);
    mx = std::max(mx, x[j]);
  }
  if (nan) {
    std::fill(y, y + m, std::numeric_limits<T>::quiet_NaN());
    return;
  }
  const batch bmx(mx);
  batch vsum(T(0));
  if (log) {
    for (index_t j = 0; j < mv; j += W) vsum += xsimd::exp(batch::load_unaligned(x + j) - bmx);
  } else {
    for (index_t j = 0; j < mv; j += W) {
      const batch e = xsimd::exp(batch::load_unaligned(x + j) - bmx);
      e.store_unaligned(y + j);
      vsum += e;
    }
  }
  T sum = simd_detail::hsum(vsum);
  for (index_t j = mv; j < m; ++j) {
    const T e = std::exp(x[j] - mx);
    if (!log) y[j] = e;
    sum += e;
  }
  if (log) {
    const T log_sum = std::log(sum);
    const batch bls(log_sum);
    for (index_t j = 0; j < mv; j += W)
      ((batch::load_unaligned(x + j) - bmx) - bls).store_unaligned(y + j);
    for (index_t j = mv; j < m; ++j) y[j] = (x[j] - mx) - log_sum;
  } else {
    const T inv = T(1) / sum;
    const batch binv(inv);
    for (index_t j = 0; j < mv; j += W) (batch::load_unaligned(y + j) * binv).store_unaligned(y + j);
    for (index_t j = mv; j < m; ++j) y[j] *= inv;
  }
}

/// Fused softmax + cross-entropy row; same contract as the scalar version.
template <class T, class A>
T softmax_xent_row(simd<A>, T* x, index_t m, index_t target, T smoothing, T scale) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const index_t mv = m / W * W;
  const T x_target = x[target];
  batch vmax(-std::numeric_limits<T>::infinity());
  for (index_t j = 0; j < mv; j += W) vmax = xsimd::max(vmax, batch::load_unaligned(x + j));
  T mx = simd_detail::hmax(vmax);
  for (index_t j = mv; j < m; ++j) mx = std::max(mx, x[j]);
  const batch bmx(mx);
  batch vsum(T(0)), vsx(T(0));
  for (index_t j = 0; j < mv; j += W) {
    const batch d = batch::load_unaligned(x + j) - bmx;
    const batch e = xsimd::exp(d);
    e.store_unaligned(x + j);
    vsum += e;
    vsx += d;
  }
  T sum = simd_detail::hsum(vsum), sum_x = simd_detail::hsum(vsx);
  for (index_t j = mv; j < m; ++j) {
    const T d = x[j] - mx;
    const T e = std::exp(d);
    x[j] = e;
    sum += e;
    sum_x += d;
  }
  const T log_sum = std::log(sum);
  const T logp_t = (x_target - mx) - log_sum;
  const T loss = -(T(1) - smoothing) * logp_t - smoothing / T(m) * (sum_x - T(m) * log_sum);
  const T inv = scale / sum, shift = scale * smoothing / T(m);
  const batch binv(inv), bshift(shift);
  for (index_t j = 0; j < mv; j += W)
    xsimd::fms(batch::load_unaligned(x + j), binv, bshift).store_unaligned(x + j);
  for (index_t j = mv; j < m; ++j) x[j] = x[j] * inv - shift;
  x[target] -= scale * (T(1) - smoothing);
  return loss;
}

}  // namespace reg4rec::backend
