// LayerNorm and RMSNorm over the rows of x (n × c), forward and backward.
//
// Forward writes y (n × c) and saves per-row statistics (mean, rstd) for the backward.
// Backward writes dx (n × c) and ADDS into dgamma, dbeta (c): parameter gradients accumulate.
// beta / dbeta may be empty spans (LayerNorm without bias). Rows are split across threads; the
// backward gives each thread its own parameter-gradient partial sums and adds them in thread
// order, so the result is deterministic for a given thread count.
#pragma once

#include <algorithm>

#include "reg4rec/backend/scalar/norm.hpp"
#include "reg4rec/backend/simd/norm.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"

namespace reg4rec::kernels {

namespace detail {
inline index_t norm_grain(index_t c) { return std::max<index_t>(1, 8192 / std::max<index_t>(c, 1)); }

template <class T>
void check_norm_shapes(const char* who, index_t n, index_t c, index_t gamma, index_t out_rows,
                       index_t out_cols, index_t stats) {
  using reg4rec::detail::cat;
  check_dim(cat(who, ": length of gamma (columns of x)").c_str(), gamma, c);
  check_dim(cat(who, ": rows of the output").c_str(), out_rows, n);
  check_dim(cat(who, ": columns of the output").c_str(), out_cols, c);
  check_dim(cat(who, ": length of the row statistics").c_str(), stats, n);
}

// Runs body(lo, hi, dgamma_part, dbeta_part) over row ranges with per-thread partial sums of
// the parameter gradients (nparams = 1 or 2 vectors of length c), then adds them in order.
template <class T, class Body>
void reduce_rows(index_t n, index_t c, int nvec, T* dgamma, T* dbeta, Body&& body) {
  const index_t grain = norm_grain(c) * 4;
  const index_t nt = std::min<index_t>(max_threads(), n / grain);
  if (nt <= 1 || in_parallel()) {
    body(index_t(0), n, dgamma, dbeta);
    return;
  }
  auto& ws = thread_workspace();
  auto frame = ws.scope();
  span<T> part = ws.take<T>(nt * nvec * c);
  std::fill(part.begin(), part.end(), T(0));
  parallel_for(0, nt, 1, [&](index_t t0, index_t t1) {
    for (index_t t = t0; t < t1; ++t) {
      T* g = part.data() + t * nvec * c;
      body(n * t / nt, n * (t + 1) / nt, g, nvec > 1 ? g + c : nullptr);
    }
  });
  for (index_t t = 0; t < nt; ++t) {
    const T* g = part.data() + t * nvec * c;
    for (index_t j = 0; j < c; ++j) dgamma[j] += g[j];
    if (nvec > 1)
      for (index_t j = 0; j < c; ++j) dbeta[j] += g[c + j];
  }
}
}  // namespace detail

template <class T, class Backend>
void layer_norm_forward(Backend be, cmatrix_view<nodeduce<T>> x, cspan<nodeduce<T>> gamma,
                        cspan<nodeduce<T>> beta, nodeduce<T> eps, matrix_view<T> y, span<T> mean,
                        span<T> rstd) {
  detail::check_norm_shapes<T>("layer_norm_forward", x.rows(), x.cols(), gamma.size(), y.rows(),
                               y.cols(), mean.size());
  check_dim("layer_norm_forward: length of rstd", rstd.size(), x.rows());
  if (!beta.empty()) check_dim("layer_norm_forward: length of beta", beta.size(), x.cols());
  const T* b = beta.empty() ? nullptr : beta.data();
  parallel_for(0, x.rows(), detail::norm_grain(x.cols()), [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i)
      backend::layer_norm_forward_row(be, x.row_ptr(i), gamma.data(), b, eps, x.cols(),
                                      y.row_ptr(i), &mean[i], &rstd[i]);
  });
}

template <class T, class Backend>
void layer_norm_backward(Backend be, cmatrix_view<nodeduce<T>> x, cspan<nodeduce<T>> gamma,
                         cspan<nodeduce<T>> mean, cspan<nodeduce<T>> rstd,
                         cmatrix_view<nodeduce<T>> dy, matrix_view<T> dx, span<T> dgamma,
                         span<T> dbeta) {
  detail::check_norm_shapes<T>("layer_norm_backward", x.rows(), x.cols(), gamma.size(), dx.rows(),
                               dx.cols(), mean.size());
  check_dim("layer_norm_backward: length of rstd", rstd.size(), x.rows());
  check_dim("layer_norm_backward: rows of dy", dy.rows(), x.rows());
  check_dim("layer_norm_backward: columns of dy", dy.cols(), x.cols());
  check_dim("layer_norm_backward: length of dgamma", dgamma.size(), x.cols());
  if (!dbeta.empty()) check_dim("layer_norm_backward: length of dbeta", dbeta.size(), x.cols());
  const int nvec = dbeta.empty() ? 1 : 2;
  detail::reduce_rows<T>(x.rows(), x.cols(), nvec, dgamma.data(), dbeta.data(),
                         [&](index_t lo, index_t hi, T* dg, T* db) {
                           for (index_t i = lo; i < hi; ++i)
                             backend::layer_norm_backward_row(be, x.row_ptr(i), gamma.data(),
                                                              mean[i], rstd[i], dy.row_ptr(i),
                                                              x.cols(), dx.row_ptr(i), dg, db);
                         });
}

template <class T, class Backend>
void rms_norm_forward(Backend be, cmatrix_view<nodeduce<T>> x, cspan<nodeduce<T>> gamma,
                      nodeduce<T> eps, matrix_view<T> y, span<T> rstd) {
  detail::check_norm_shapes<T>("rms_norm_forward", x.rows(), x.cols(), gamma.size(), y.rows(),
                               y.cols(), rstd.size());
  parallel_for(0, x.rows(), detail::norm_grain(x.cols()), [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i)
      backend::rms_norm_forward_row(be, x.row_ptr(i), gamma.data(), eps, x.cols(), y.row_ptr(i),
                                    &rstd[i]);
  });
}

template <class T, class Backend>
void rms_norm_backward(Backend be, cmatrix_view<nodeduce<T>> x, cspan<nodeduce<T>> gamma,
                       cspan<nodeduce<T>> rstd, cmatrix_view<nodeduce<T>> dy, matrix_view<T> dx,
                       span<T> dgamma) {
  detail::check_norm_shapes<T>("rms_norm_backward", x.rows(), x.cols(), gamma.size(), dx.rows(),
                               dx.cols(), rstd.size());
  check_dim("rms_norm_backward: rows of dy", dy.rows(), x.rows());
  check_dim("rms_norm_backward: columns of dy", dy.cols(), x.cols());
  check_dim("rms_norm_backward: length of dgamma", dgamma.size(), x.cols());
  detail::reduce_rows<T>(x.rows(), x.cols(), 1, dgamma.data(), static_cast<T*>(nullptr),
                         [&](index_t lo, index_t hi, T* dg, T*) {
                           for (index_t i = lo; i < hi; ++i)
                             backend::rms_norm_backward_row(be, x.row_ptr(i), gamma.data(), rstd[i],
                                                            dy.row_ptr(i), x.cols(), dx.row_ptr(i), dg);
                         });
}

// Default-backend forms.
template <class T>
void layer_norm_forward(cmatrix_view<nodeduce<T>> x, cspan<nodeduce<T>> gamma,
                        cspan<nodeduce<T>> beta, nodeduce<T> eps, matrix_view<T> y, span<T> mean,
                        span<T> rstd) {
  layer_norm_forward<T>(default_backend{}, x, gamma, beta, eps, y, mean, rstd);
}
template <class T>
void layer_norm_backward(cmatrix_view<nodeduce<T>> x, cspan<nodeduce<T>> gamma,
                         cspan<nodeduce<T>> mean, cspan<nodeduce<T>> rstd,
                         cmatrix_view<nodeduce<T>> dy, matrix_view<T> dx, span<T> dgamma,
                         span<T> dbeta) {
  layer_norm_backward<T>(default_backend{}, x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
}
template <class T>
void rms_norm_forward(cmatrix_view<nodeduce<T>> x, cspan<nodeduce<T>> gamma, nodeduce<T> eps,
                      matrix_view<T> y, span<T> rstd) {
  rms_norm_forward<T>(default_backend{}, x, gamma, eps, y, rstd);
}
template <class T>
void rms_norm_backward(cmatrix_view<nodeduce<T>> x, cspan<nodeduce<T>> gamma,
                       cspan<nodeduce<T>> rstd, cmatrix_view<nodeduce<T>> dy, matrix_view<T> dx,
                       span<T> dgamma) {
  rms_norm_backward<T>(default_backend{}, x, gamma, rstd, dy, dx, dgamma);
}

}  // namespace reg4rec::kernels
