// LayerNorm and RMSNorm with xsimd. Same contract and formulas as backend/scalar/norm.hpp.
#pragma once

#include <cmath>

#include "reg4rec/backend/simd/common.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

template <class T, class A>
void layer_norm_forward_row(simd<A>, const T* x, const T* gamma, const T* beta, T eps, index_t c,
                            T* y, T* mean_out, T* rstd_out) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const index_t cv = c / W * W;
  batch s(T(0));
  for (index_t j = 0; j < cv; j += W) s += batch::load_unaligned(x + j);
  T sum = simd_detail::hsum(s);
  for (index_t j = cv; j < c; ++j) sum += x[j];
  const T mean = sum / T(c);
  const batch bm(mean);
  batch q(T(0));
  for (index_t j = 0; j < cv; j += W) {
    const batch d = batch::load_unaligned(x + j) - bm;
    q = xsimd::fma(d, d, q);
  }
  T var = simd_detail::hsum(q);
  for (index_t j = cv; j < c; ++j) var += (x[j] - mean) * (x[j] - mean);
  var /= T(c);
  const T rstd = T(1) / std::sqrt(var + eps);
  const batch br(rstd);
  for (index_t j = 0; j < cv; j += W) {
    batch out = (batch::load_unaligned(x + j) - bm) * br * batch::load_unaligned(gamma + j);
    if (beta) out += batch::load_unaligned(beta + j);
    out.store_unaligned(y + j);
  }
  for (index_t j = cv; j < c; ++j) y[j] = (x[j] - mean) * rstd * gamma[j] + (beta ? beta[j] : T(0));
  *mean_out = mean;
  *rstd_out = rstd;
}

template <class T, class A>
void layer_norm_backward_row(simd<A>, const T* x, const T* gamma, T mean, T rstd, const T* dy,
                             index_t c, T* dx, T* dgamma, T* dbeta) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const index_t cv = c / W * W;
  const batch bm(mean), br(rstd);
  batch sg(T(0)), sgn(T(0));
  for (index_t j = 0; j < cv; j += W) {
    const batch n = (batch::load_unaligned(x + j) - bm) * br;
    const batch g = batch::load_unaligned(dy + j) * batch::load_unaligned(gamma + j);
    sg += g;
    sgn = xsimd::fma(g, n, sgn);
  }
  T mean_g = simd_detail::hsum(sg), mean_gn = simd_detail::hsum(sgn);
  for (index_t j = cv; j < c; ++j) {
    const T n = (x[j] - mean) * rstd;
    const T g = dy[j] * gamma[j];
    mean_g += g;
    mean_gn += g * n;
  }
  mean_g /= T(c);
  mean_gn /= T(c);
  const batch bmg(mean_g), bmgn(mean_gn);
  for (index_t j = 0; j < cv; j += W) {
    const batch n = (batch::load_unaligned(x + j) - bm) * br;
    const batch d = batch::load_unaligned(dy + j);
    (br * (d * batch::load_unaligned(gamma + j) - bmg - n * bmgn)).store_unaligned(dx + j);
    xsimd::fma(d, n, batch::load_unaligned(dgamma + j)).store_unaligned(dgamma + j);
    if (dbeta) (batch::load_unaligned(dbeta + j) + d).store_unaligned(dbeta + j);
  }
  for (index_t j = cv; j < c; ++j) {
    const T n = (x[j] - mean) * rstd;
    dx[j] = rstd * (dy[j] * gamma[j] - mean_g - n * mean_gn);
    dgamma[j] += dy[j] * n;
    if (dbeta) dbeta[j] += dy[j];
  }
}

template <class T, class A>
void rms_norm_forward_row(simd<A>, const T* x, const T* gamma, T eps, index_t c, T* y,
                          T* rstd_out) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const index_t cv = c / W * W;
  batch q(T(0));
  for (index_t j = 0; j < cv; j += W) {
    const batch v = batch::load_unaligned(x + j);
    q = xsimd::fma(v, v, q);
  }
  T ms = simd_detail::hsum(q);
  for (index_t j = cv; j < c; ++j) ms += x[j] * x[j];
  ms /= T(c);
  const T rstd = T(1) / std::sqrt(ms + eps);
  const batch br(rstd);
  for (index_t j = 0; j < cv; j += W)
    (batch::load_unaligned(x + j) * br * batch::load_unaligned(gamma + j)).store_unaligned(y + j);
  for (index_t j = cv; j < c; ++j) y[j] = x[j] * rstd * gamma[j];
  *rstd_out = rstd;
}

template <class T, class A>
void rms_norm_backward_row(simd<A>, const T* x, const T* gamma, T rstd, const T* dy, index_t c,
                           T* dx, T* dgamma) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const index_t cv = c / W * W;
  const batch br(rstd);
  batch sgn(T(0));
  for (index_t j = 0; j < cv; j += W)
    sgn = xsimd::fma(batch::load_unaligned(dy + j) * batch::load_unaligned(gamma + j),
                     batch::load_unaligned(x + j) * br, sgn);
  T mean_gn = simd_detail::hsum(sgn);
  for (index_t j = cv; j < c; ++j) mean_gn += dy[j] * gamma[j] * x[j] * rstd;
  mean_gn /= T(c);
  const batch bmgn(mean_gn);
  for (index_t j = 0; j < cv; j += W) {
    const batch n = batch::load_unaligned(x + j) * br;
    const batch d = batch::load_unaligned(dy + j);
    (br * (d * batch::load_unaligned(gamma + j) - n * bmgn)).store_unaligned(dx + j);
    xsimd::fma(d, n, batch::load_unaligned(dgamma + j)).store_unaligned(dgamma + j);
  }
  for (index_t j = cv; j < c; ++j) {
    const T n = x[j] * rstd;
    dx[j] = rstd * (dy[j] * gamma[j] - n * mean_gn);
    dgamma[j] += dy[j] * n;
  }
}

}  // namespace reg4rec::backend
