// LayerNorm and RMSNorm over rows, scalar reference.
//   LayerNorm: y = (x − μ)·r·γ + β with r = 1/sqrt(var + eps) (biased variance)
//   RMSNorm:   y = x·r·γ            with r = 1/sqrt(mean(x²) + eps)
// Forward saves μ and r per row for the backward. Backward writes dx and ADDS to dγ, dβ
// (parameter gradients accumulate over rows and calls).
#pragma once

#include <cmath>

#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

template <class T>
void layer_norm_forward_row(scalar, const T* x, const T* gamma, const T* beta, T eps, index_t c,
                            T* y, T* mean_out, T* rstd_out) {
  T mean = 0;
  for (index_t j = 0; j < c; ++j) mean += x[j];
  mean /= T(c);
  T var = 0;
  for (index_t j = 0; j < c; ++j) var += (x[j] - mean) * (x[j] - mean);
  var /= T(c);
  const T rstd = T(1) / std::sqrt(var + eps);
  for (index_t j = 0; j < c; ++j) y[j] = (x[j] - mean) * rstd * gamma[j] + (beta ? beta[j] : T(0));
  *mean_out = mean;
  *rstd_out = rstd;
}

// dx = r·(g − mean(g) − n·mean(g·n)) with g = dy·γ and n = (x − μ)·r.
template <class T>
void layer_norm_backward_row(scalar, const T* x, const T* gamma, T mean, T rstd, const T* dy,
                             index_t c, T* dx, T* dgamma, T* dbeta) {
  T mean_g = 0, mean_gn = 0;
  for (index_t j = 0; j < c; ++j) {
    const T n = (x[j] - mean) * rstd;
    const T g = dy[j] * gamma[j];
    mean_g += g;
    mean_gn += g * n;
  }
  mean_g /= T(c);
  mean_gn /= T(c);
  for (index_t j = 0; j < c; ++j) {
    const T n = (x[j] - mean) * rstd;
    dx[j] = rstd * (dy[j] * gamma[j] - mean_g - n * mean_gn);
    dgamma[j] += dy[j] * n;
    if (dbeta) dbeta[j] += dy[j];
  }
}

template <class T>
void rms_norm_forward_row(scalar, const T* x, const T* gamma, T eps, index_t c, T* y,
                          T* rstd_out) {
  T ms = 0;
  for (index_t j = 0; j < c; ++j) ms += x[j] * x[j];
  ms /= T(c);
  const T rstd = T(1) / std::sqrt(ms + eps);
  for (index_t j = 0; j < c; ++j) y[j] = x[j] * rstd * gamma[j];
  *rstd_out = rstd;
}

// dx = r·(g − n·mean(g·n)) with g = dy·γ and n = x·r.
template <class T>
void rms_norm_backward_row(scalar, const T* x, const T* gamma, T rstd, const T* dy, index_t c,
                           T* dx, T* dgamma) {
  T mean_gn = 0;
  for (index_t j = 0; j < c; ++j) mean_gn += dy[j] * gamma[j] * x[j] * rstd;
  mean_gn /= T(c);
  for (index_t j = 0; j < c; ++j) {
    const T n = x[j] * rstd;
    dx[j] = rstd * (dy[j] * gamma[j] - n * mean_gn);
    dgamma[j] += dy[j] * n;
  }
}

}  // namespace reg4rec::backend
